import pytest
import torch

from deepart_batch.engine import RenderParams, StyleInput, canonical_layer
from deepart_batch.engine.optimize import resize_long_side
from deepart_batch.errors import ParamsError


def test_total_loss_falls_fivefold_in_30_steps(engine, photo, painting):
    seen = []
    result = engine.render(photo, [StyleInput(painting)], RenderParams(size=128, steps=30, log_every=1),
                           callback=lambda losses, total: seen.append(losses))
    assert [s.step for s in seen] == list(range(1, 31))
    first, last = seen[0], seen[-1]
    assert first.total / last.total >= 5, (first.total, last.total)
    assert result.image.shape[-2:] == (96, 128)
    assert 0 <= result.image.min() and result.image.max() <= 1
    assert set(last.style) == {"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"}
    assert result.evaluations == 30 and result.final.total > 0


@pytest.mark.numeric
def test_same_seed_same_output_on_cpu(engine, photo, painting):
    params = RenderParams(size=64, steps=8, init="noise", seed=7)
    a = engine.render(photo, [StyleInput(painting)], params)
    b = engine.render(photo, [StyleInput(painting)], params)
    c = engine.render(photo, [StyleInput(painting)], RenderParams(size=64, steps=8, init="noise", seed=8))
    # A promise on one machine (same torch, device and threads): seeded renders repeat.
    assert torch.equal(a.image, b.image)
    assert not torch.equal(a.image, c.image)


@pytest.mark.parametrize("content,style", [
    (("relu4_2",), ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")),
    # The seed report's configuration, in the tutorial's own names: pre-ReLU conv outputs.
    (("conv_4",), ("conv_1", "conv_2", "conv_3", "conv_4", "conv_5")),
    (("conv2_2",), ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1")),
    (("relu3_2",), ("pool1", "relu5_4")),
])
def test_layer_configurations(engine, photo, painting, content, style):
    params = RenderParams(size=64, steps=4, log_every=2, content_layers=content, style_layers=style)
    result = engine.render(photo, [StyleInput(painting)], params)
    expected = {canonical_layer(n) for n in style}
    assert set(result.final.style) == expected
    assert result.trace[-1].total < result.trace[0].total or result.trace[-1].total > 0
    assert torch.isfinite(result.image).all()


def test_tutorial_names_map_to_the_seed_layers():
    assert canonical_layer("conv_4") == "conv2_2"
    assert [canonical_layer(f"conv_{i}") for i in range(1, 6)] == \
        ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1"]
    assert canonical_layer("RELU4_2") == "relu4_2"


def test_encoder_is_cut_after_deepest_layer_and_frozen(engine):
    enc = engine.encoder(["relu2_1", "conv1_1"])
    names = [n for n, _ in enc.net.named_children()]
    assert names[-1] == "relu2_1" and "conv2_2" not in names
    assert all(not p.requires_grad for p in enc.parameters())


def test_bad_parameters_are_refused():
    with pytest.raises(ParamsError, match="unknown layer name 'relu9_1'"):
        RenderParams(style_layers=("relu9_1",)).validated()
    with pytest.raises(ParamsError, match="style_weight must be a number >= 0"):
        RenderParams(style_weight=-1).validated()
    with pytest.raises(ParamsError, match="tv_weight"):
        RenderParams(tv_weight=float("nan")).validated()
    with pytest.raises(ParamsError, match="optimizer must be one of"):
        RenderParams(optimizer="sgd").validated()


def _mean_color(image):
    return image.mean(dim=(0, 2, 3))


@pytest.mark.parametrize("mode", ["luminance", "match"])
def test_color_preservation_keeps_content_mean_color(engine, render_cache, photo, painting,
                                                     mode):
    base = RenderParams(size=96, steps=25)
    content_mean = _mean_color(resize_long_side(photo, 96))
    free = render_cache(photo, [StyleInput(painting)], base).image   # once for both modes
    kept = engine.render(photo, [StyleInput(painting)],
                         RenderParams(size=96, steps=25, preserve_color=mode)).image
    drift_free = (_mean_color(free) - content_mean).abs().max()
    drift_kept = (_mean_color(kept) - content_mean).abs().max()
    assert drift_kept < 0.06, (mode, drift_kept)
    assert drift_kept < drift_free


def test_style_blend_and_adam(engine, photo, painting):
    from deepart_batch import images
    from conftest import DATA
    scream = images.to_tensor(images.load_image(DATA / "the_scream.jpg"))
    seen = []
    params = RenderParams(size=64, steps=30, optimizer="adam", log_every=5, style_scale=0.8)
    engine.render(photo, [StyleInput(painting, 0.7), StyleInput(scream, 0.3)], params,
                  callback=lambda losses, total: seen.append(losses.total))
    assert seen[-1] < seen[0] / 2


@pytest.mark.numeric
def test_style_targets_are_reusable(engine, photo, painting):
    params = RenderParams(size=64, steps=5, init="noise")
    grams = engine.style_targets(painting, params)
    assert set(grams) == set(params.style_layers)
    a = engine.render(photo, [StyleInput(painting)], params, style_grams=[grams])
    b = engine.render(photo, [StyleInput(painting)], params)
    assert torch.allclose(a.image, b.image)  # the same arithmetic: equal on any CPU


@pytest.mark.numeric
def test_init_from_image(engine, photo, painting):
    params = RenderParams(size=64, steps=0, init="image")
    result = engine.render(photo, [StyleInput(painting)], params, init=painting)
    expected = torch.nn.functional.interpolate(painting, size=(48, 64), mode="bicubic",
                                               antialias=True).clamp(0, 1)
    assert result.image.shape[-2:] == (48, 64)
    assert torch.allclose(result.image, expected, atol=1e-5)
