"""Regions in the engine (engine/regions.py): guided Gram matrices, the kept regions'
compositing, renders with a mask through coarse-to-fine, look size, approve-to-print and
the pipeline's style-target cache. Small images, few steps, the real weights."""

import numpy as np
import pytest
import torch
from PIL import Image

from deepart_batch.engine import RenderParams, StyleInput
from deepart_batch.engine.losses import gram, guided_gram
from deepart_batch.engine.memory import MemoryLimitError
from deepart_batch.engine.optimize import resize_long_side
from deepart_batch.engine.regions import FEATHER_PX, Region, RegionGuide, composite

STYLED, KEPT = Region("white", (1.0,)), Region("black", None)


def _halves(h: int, w: int, kept_from: int) -> RegionGuide:
    labels = torch.zeros(h, w, dtype=torch.long)
    labels[:, kept_from:] = 1
    return RegionGuide.from_labels(labels, [STYLED, KEPT])


@pytest.mark.numeric
def test_guided_gram_of_an_all_ones_guide_is_the_gram():
    f = torch.randn(1, 8, 6, 5)
    assert torch.allclose(guided_gram(f, torch.ones(1, 1, 6, 5)), gram(f), rtol=1e-5)
    cl = f.contiguous(memory_format=torch.channels_last)
    assert torch.allclose(guided_gram(cl, torch.ones(1, 1, 6, 5)), gram(f), rtol=1e-5)


@pytest.mark.numeric
def test_guided_gram_of_a_hard_guide_is_the_gram_of_its_positions():
    f = torch.randn(1, 4, 6, 5)
    g = torch.zeros(1, 1, 6, 5)
    g[..., 1:4, 2:] = 1
    inside = f[..., 1:4, 2:].reshape(4, -1)
    expected = inside @ inside.t() / (4 * inside.shape[1])
    assert torch.allclose(guided_gram(f, g), expected, rtol=1e-5)
    # a guide scaled by a constant selects the same statistics (normalised by its mass)
    assert torch.allclose(guided_gram(f, 0.5 * g), expected, rtol=1e-5)


def test_guided_gram_is_differentiable_only_through_the_guided_positions():
    f = torch.randn(1, 3, 4, 4, requires_grad=True)
    g = torch.zeros(1, 1, 4, 4)
    g[..., :2, :] = 1
    guided_gram(f, g).sum().backward()
    assert f.grad[..., 2:, :].abs().max() == 0 and f.grad[..., :2, :].abs().max() > 0


def test_region_maps_keep_their_shares_at_any_size():
    guide = _halves(12, 16, kept_from=4)
    small = guide.at(6, 8)
    assert torch.allclose(small.sum(1), torch.ones(1, 6, 8))
    assert small[0, 1].mean().item() == pytest.approx(0.75)


def test_keep_alpha_is_exact_inside_and_falls_off_monotonically():
    guide = _halves(32, 40, kept_from=20)
    alpha = guide.keep_alpha(32, 40)[0, 0]
    assert (alpha[:, 20:] == 1).all()                         # the kept area: exactly 1
    row = alpha[10, :20].flip(0)                              # outwards from the edge
    assert torch.all(row[1:] <= row[:-1])
    assert row[0] < 1 and row[FEATHER_PX - 1] > 0 and (row[FEATHER_PX:] == 0).all()
    assert RegionGuide.from_labels(torch.zeros(4, 4, dtype=torch.long),
                                   [STYLED, KEPT]).keep_alpha(4, 4) is not None
    assert RegionGuide.from_labels(torch.zeros(4, 4, dtype=torch.long),
                                   [STYLED]).keep_alpha(4, 4) is None


def test_composite_puts_the_photo_where_alpha_is_one():
    x, photo = torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4)
    alpha = torch.zeros(1, 1, 4, 4)
    alpha[..., :, :2] = 1
    out = composite(x, photo, alpha)
    assert torch.equal(out[..., :2], photo[..., :2]) and torch.equal(out[..., 2:], x[..., 2:])


def test_a_render_keeps_the_kept_region_exactly_and_styles_the_rest(engine, photo, painting):
    p = RenderParams(size=64, steps=8, scales=(0.5, 1.0), scale_steps=(4, 4))
    h, w = photo.shape[-2:]
    guide = _halves(h, w, kept_from=w // 2)
    result = engine.render(photo, [StyleInput(painting)], p, regions=guide)
    plain = engine.render(photo, [StyleInput(painting)], p)
    target = resize_long_side(photo, 64)
    half = result.image.shape[-1] // 2
    kept = (result.image - target)[..., half:].abs().mean() * 255
    assert kept < 1.0                                           # the photo, within 1/255
    styled = (result.image - target)[..., :half - FEATHER_PX].abs().mean() * 255
    assert styled > 5                                           # really painted
    assert set(result.final.regions) == {"white"}
    assert result.final.regions["white"] > 0
    assert all(t.regions for t in result.trace)
    assert not torch.equal(result.image, plain.image)
    assert all(t["step"] == "eager" for t in result.scale_timings)


def test_two_regions_follow_their_own_styles(engine, photo, painting):
    from deepart_batch import images
    from conftest import DATA
    scream = images.to_tensor(images.load_image(DATA / "the_scream.jpg", max_side=128))
    h, w = photo.shape[-2:]
    labels = torch.zeros(h, w, dtype=torch.long)
    labels[:, w // 2:] = 1
    regions = [Region("white", (1.0, 0.0)), Region("#ff0000", (0.0, 1.0), style_weight=300.0)]
    guide = RegionGuide.from_labels(labels, regions)
    p = RenderParams(size=48, steps=4, scales=(1.0,))
    result = engine.render(photo, [StyleInput(painting), StyleInput(scream)], p,
                           regions=guide)
    assert set(result.final.regions) == {"white", "#ff0000"}


def test_regions_with_look_size_and_approve_to_print(engine, photo, painting):
    """A print above its look size runs detail stages with regions; the print from the
    approved preview keeps the kept region exact at the print's size."""
    h, w = photo.shape[-2:]
    guide = _halves(h, w, kept_from=w // 2)
    p = RenderParams(size=128, steps=4, look_size=64, scales=(1.0,))
    preview = engine.render(photo, [StyleInput(painting)], RenderParams(size=64, steps=4,
                                                                        scales=(1.0,)),
                            regions=guide)
    printed = engine.render(photo, [StyleInput(painting)], p, regions=guide,
                            look_side=64, approved=preview.image)
    assert [s["size"] for s in printed.scale_timings] == [128]
    target = resize_long_side(photo, 128)
    half = printed.image.shape[-1] // 2
    assert (printed.image - target)[..., half:].abs().mean() * 255 < 1.0


def test_a_thin_photo_pads_its_regions_like_itself(engine, painting):
    thin = torch.rand(1, 3, 8, 96)
    labels = torch.zeros(8, 96, dtype=torch.long)
    labels[:, 48:] = 1
    guide = RegionGuide.from_labels(labels, [STYLED, KEPT])
    result = engine.render(thin, [StyleInput(painting)], RenderParams(size=96, steps=2,
                                                                      scales=(1.0,)),
                           regions=guide)
    assert result.image.shape[-2:] == (8, 96)
    assert (result.image - thin)[..., 48:].abs().mean() * 255 < 1.0


def test_a_render_with_regions_that_only_fits_by_tiles_is_refused(weights, photo, painting):
    from deepart_batch.engine import StyleTransfer
    small = StyleTransfer(weights.conv, weights.preprocessing, "cpu",
                          memory_limit_bytes=int(1.6 * 2**30))  # tiles only
    h, w = photo.shape[-2:]
    p = RenderParams(size=1024, steps=1, scales=(1.0,), look_size=0)
    with pytest.raises(MemoryLimitError, match="regions cannot be rendered by tiles yet"):
        small.render(photo, [StyleInput(painting)], p, regions=_halves(h, w, w // 2))


def test_region_maps_must_be_at_the_contents_size(engine, photo, painting):
    with pytest.raises(ValueError, match="region maps"):
        engine.render(photo, [StyleInput(painting)], RenderParams(size=32, steps=1),
                      regions=_halves(10, 10, 5))


def test_the_style_target_cache_hits_with_a_mask(engine, weights, tmp_path):
    from deepart_batch.pipeline import RenderRequest, StyleFile, render_request
    from deepart_batch.pool.worker import GramCache
    from conftest import DATA
    mask = tmp_path / "mask.png"
    arr = np.full((96, 128), 255, np.uint8)
    arr[:, 64:] = 0
    Image.fromarray(arr, "L").save(mask)
    cache = GramCache()
    plain = RenderRequest(content=str(DATA / "tubingen.jpg"),
                          styles=[StyleFile(str(DATA / "starry_night.jpg"), 1.0, "starry")],
                          params=RenderParams(size=48, steps=2, scales=(1.0,)))
    render_request(engine, weights, plain, gram_cache=cache)
    masked = RenderRequest(**{**plain.__dict__, "mask": str(mask)})
    image, report = render_request(engine, weights, masked, gram_cache=cache)
    assert report.timings["style_cache_hits"] == 1    # the painting's targets, mask or not
    assert report.regions["mask"]["sha256"] and report.regions["mask"]["width"] == 128
    white, black = report.regions["regions"]
    assert white["styles"] == {"starry": 1.0} and white["final_loss"] > 0
    assert black["keep"] and black["area"] == pytest.approx(0.5)
    assert report.to_dict()["regions"] == report.regions


@pytest.mark.numeric
def test_each_region_is_matched_to_its_own_styles_targets(engine, photo, painting):
    """The objective's loss of a region is the guided Gram MSE against that region's own
    blend of the styles' targets, and the kept region has none."""
    from deepart_batch.engine.regions import build_region_objective
    p = RenderParams(size=48, content_layers=(), style_layers=("relu1_1", "relu2_1"))
    x = resize_long_side(photo, 48)
    h, w = x.shape[-2:]
    other = torch.flip(painting, dims=(-1, -2)) * 0.5
    grams = [engine.style_targets(s, p) for s in (painting, other)]
    labels = torch.zeros(h, w, dtype=torch.long)
    labels[:, w // 3:] = 1
    labels[:, 2 * w // 3:] = 2
    regions = [Region("a", (1.0, 0.0)), Region("b", (0.0, 1.0), style_weight=7.0), KEPT]
    guide = RegionGuide.from_labels(labels, regions)
    enc = engine.encoder(p.style_layers)
    objective = build_region_objective(None, enc, x, grams, p, "fp32", guide, 48)
    _, parts = objective(x)
    assert set(parts.regions) == {"a", "b"}
    feats = enc(x, p.style_layers)             # x is the photo: compositing changes nothing
    for name, index, targets, weight in (("a", 0, grams[0], p.style_weight),
                                         ("b", 1, grams[1], 7.0)):
        expected = 0.0
        for k in p.style_layers:
            g = torch.nn.functional.interpolate((labels == index).float()[None, None],
                                                size=feats[k].shape[-2:], mode="area")
            expected += weight * torch.nn.functional.mse_loss(guided_gram(feats[k], g),
                                                              targets[k]).item()
        assert parts.regions[name].item() == pytest.approx(expected, rel=1e-4)
