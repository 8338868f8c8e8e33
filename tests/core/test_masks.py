"""Reading region masks (masks.py, core/regions.py): scaling, colours, refusals. No torch."""

import os
import sys

import numpy as np
import pytest
from PIL import Image

from deepart_batch.core.regions import (RegionSpec, RegionValueError, default_regions,
                                        effective_regions, parse_value, value_name)
from deepart_batch.errors import MaskError
from deepart_batch.masks import check_mask, read_mask, upright_size

RED = (255, 0, 0)


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "shoe.jpg"
    Image.new("RGB", (120, 80), (90, 120, 150)).save(path)
    return path


def _grey_mask(path, size, left_black: int):
    arr = np.full((size[1], size[0]), 255, np.uint8)
    arr[:, :left_black] = 0
    Image.fromarray(arr, "L").save(path)
    return path


@pytest.mark.parametrize("key, rgb", [("white", (255, 255, 255)), ("Black", (0, 0, 0)),
                                      (128, (128, 128, 128)), ("64", (64, 64, 64)),
                                      ("#ff0000", RED), ("#00FF7f", (0, 255, 127))])
def test_mask_values_parse(key, rgb):
    assert parse_value(key) == rgb


@pytest.mark.parametrize("key", ["red", "#ff00", "#gg0000", 256, -1, True, 1.5, None])
def test_bad_mask_values_are_refused_with_what_to_write(key):
    with pytest.raises(RegionValueError, match="grey|#rrggbb"):
        parse_value(key)


def test_value_names_are_canonical():
    assert [value_name(v) for v in [(255, 255, 255), (0, 0, 0), (7, 7, 7), RED]] == \
        ["white", "black", "grey 7", "#ff0000"]


def test_mapped_regions_override_the_white_and_black_defaults():
    mapped = (RegionSpec((255, 255, 255), styles={"starry": 1.0}), RegionSpec(RED, keep=True))
    regions = effective_regions(mapped)
    assert [r.describe() for r in regions] == ["white -> starry", "black -> keep",
                                               "#ff0000 -> keep"]
    assert RegionSpec.from_dict(regions[0].to_dict()) == regions[0]
    assert [r.keep for r in default_regions()] == [False, True]


def test_a_small_mask_is_scaled_to_the_photo_with_nearest_labels(tmp_path, photo):
    mask = _grey_mask(tmp_path / "m.png", (30, 20), left_black=10)    # a third kept
    region_map = read_mask(mask, photo, (120, 80), default_regions())
    labels = region_map.labels
    assert labels.shape == (80, 120) and set(np.unique(labels)) == {0, 1}
    assert (labels[:, :40] == 1).all() and (labels[:, 40:] == 0).all()   # no blended labels
    assert region_map.areas() == pytest.approx([2 / 3, 1 / 3])
    assert region_map.mask_size == (30, 20) and len(region_map.sha256) == 64


def test_soft_edges_take_the_nearest_value(tmp_path, photo):
    arr = np.full((80, 120), 255, np.uint8)
    arr[:, :40] = 0
    arr[:, 40] = 100            # an anti-aliased column: nearer black
    arr[:, 41] = 200            # nearer white
    Image.fromarray(arr, "L").save(tmp_path / "soft.png")
    labels = read_mask(tmp_path / "soft.png", photo, (120, 80), default_regions()).labels
    assert (labels[:, 40] == 1).all() and (labels[:, 41] == 0).all()


def test_palette_colours_name_regions(tmp_path, photo):
    im = Image.new("P", (120, 80), 0)
    im.putpalette([0, 0, 0, 255, 255, 255, 255, 0, 0] + [0] * 759)
    im.paste(1, (40, 0, 120, 80))
    im.paste(2, (80, 0, 120, 80))
    im.save(tmp_path / "palette.png")
    regions = effective_regions((RegionSpec(RED, styles={"scream": 1.0}),))
    labels = read_mask(tmp_path / "palette.png", photo, (60, 40), regions).labels
    assert labels.shape == (40, 60)
    assert (labels[:, :20] == 1).all() and (labels[:, 20:40] == 0).all() \
        and (labels[:, 40:] == 2).all()


def test_an_unmapped_colour_is_refused_naming_it(tmp_path, photo):
    im = Image.new("RGB", (120, 80), (255, 255, 255))
    im.paste(RED, (0, 0, 30, 80))
    im.save(tmp_path / "red.png")
    with pytest.raises(MaskError) as err:
        read_mask(tmp_path / "red.png", photo, (120, 80), default_regions())
    message = str(err.value)
    assert "red.png" in message and "#ff0000" in message and "25.0%" in message
    assert "regions:" in message and "white -> the output's style, black -> keep" in message


def test_transparency_counts_as_black(tmp_path, photo):
    im = Image.new("RGBA", (120, 80), (255, 255, 255, 255))
    im.paste((255, 255, 255, 0), (0, 0, 60, 80))
    im.save(tmp_path / "alpha.png")
    region_map = read_mask(tmp_path / "alpha.png", photo, (120, 80), default_regions())
    assert region_map.areas() == pytest.approx([0.5, 0.5])


def test_a_mask_framed_unlike_the_photo_is_refused(tmp_path, photo):
    mask = _grey_mask(tmp_path / "square.png", (80, 80), left_black=10)
    with pytest.raises(MaskError) as err:
        check_mask(mask, photo, (120, 80))
    message = str(err.value)
    assert "square.png" in message and "80x80" in message and "shoe.jpg" in message
    assert "120x80" in message and "33% off" in message and "photo's size" in message
    _grey_mask(tmp_path / "near.png", (121, 80), left_black=10)      # 0.8 % off: fine
    assert check_mask(tmp_path / "near.png", photo, (120, 80)) == (121, 80)


def test_a_mask_that_is_not_an_image_is_refused(tmp_path, photo):
    notes = tmp_path / "mask.png"
    notes.write_text("not a picture")
    with pytest.raises(MaskError, match="mask.png.*damaged or incomplete.*grayscale or palette"):
        read_mask(notes, photo, (120, 80), default_regions())
    with pytest.raises(MaskError, match="missing.png: file not found"):
        read_mask(tmp_path / "missing.png", photo, (120, 80), default_regions())


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs")
def test_a_fifo_named_as_a_mask_is_refused_without_blocking(tmp_path, photo):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(MaskError, match="pipe.png: not a regular file"):
        check_mask(fifo, photo, (120, 80))


def test_a_decompression_bomb_mask_is_refused_from_its_header(tmp_path, photo):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (3000, 2000)).save(bomb)
    with pytest.raises(MaskError, match=r"bomb.png: 3000x2000 is 6.0 MP, over the limit of "
                                        r"1.0 MP"):
        read_mask(bomb, photo, (120, 80), default_regions(), photo_size=(120, 80),
                  max_pixels=1_000_000)


def test_the_mask_is_turned_upright_like_the_photo(tmp_path):
    photo = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6                         # stored 120x80, shown 80x120
    Image.new("RGB", (120, 80)).save(photo, exif=exif)
    assert upright_size(photo) == (80, 120)
    mask = tmp_path / "m.png"
    arr = np.full((80, 120), 255, np.uint8)
    arr[:, :30] = 0                          # black on the left as stored: the top once turned
    Image.fromarray(arr, "L").save(mask, exif=exif)
    labels = read_mask(mask, photo, (80, 120), default_regions(),
                       photo_size=upright_size(photo)).labels
    assert labels.shape == (120, 80)
    assert (labels[:30] == 1).all() and (labels[30:] == 0).all()
