"""Photos the network or the limits cannot take as they are: thin, huge, empty."""

import json
import struct
import zlib

import pytest
import torch
from PIL import Image

from support.fault_helpers import archived, assert_promise, assert_restarts, fault_box


def huge_png(path, side=60000):
    """A PNG header that claims side x side pixels (a few dozen bytes on disk)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) +
                     chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("height,width,size", [(100, 1024, 64), (40, 1024, 128), (2, 3000, 32),
                                               (300, 12, 32)])
def test_long_thin_images_render_at_their_shape(engine, painting, height, width, size):
    from deepart_batch.engine import RenderParams, StyleInput
    from deepart_batch.engine.memory import long_side_shape
    content = torch.rand(1, 3, height, width)
    result = engine.render(content, [StyleInput(painting, 1.0)],
                           RenderParams(size=size, steps=1, scales=(0.5, 1.0)))
    assert tuple(result.image.shape[-2:]) == long_side_shape(height, width, size)
    assert torch.isfinite(result.image).all()


def test_a_thin_style_image_gives_targets(engine):
    from deepart_batch.engine import RenderParams
    grams = engine.style_targets(torch.rand(1, 3, 4, 400), RenderParams(size=32, steps=1))
    assert grams and all(torch.isfinite(g).all() for g in grams.values())


def test_probe_names_the_pixel_limit_for_a_huge_png(tmp_path):
    from deepart_batch import images
    from deepart_batch.errors import ImageError
    with pytest.raises(ImageError, match="max_input_pixels"):
        images.probe(huge_png(tmp_path / "huge.png"), 50_000_000)


def test_thin_empty_and_huge_files_in_the_daemon(tmp_path):
    box = fault_box(tmp_path)
    Image.new("RGB", (1024, 40), (200, 30, 30)).save(box.inbox / "banner.png")
    (box.inbox / "empty.jpg").write_bytes(b"")
    huge_png(box.inbox / "huge.png")
    res = box.run_once()
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr[-3000:]
    assert box.outputs() == ["banner.scream.jpg"]
    with Image.open(box.outbox / "banner.scream.jpg") as im:
        assert im.width == 32 and im.height <= 2   # 1024x40 at 32 px (decode rounding)
    errors = {p.name: json.loads(p.read_text()) for p in box.outbox.glob("*.error.json")}
    assert errors["empty.jpg.error.json"]["reason"] == "empty"
    assert "empty file" in errors["empty.jpg.error.json"]["error"]
    assert errors["huge.png.error.json"]["reason"] == "too_many_pixels"
    assert "limits.max_input_pixels" in errors["huge.png.error.json"]["error"]
    assert archived(box) == {"done": ["banner.png"], "failed": ["empty.jpg", "huge.png"]}
    assert_promise(box, dropped=3)
    assert_restarts(box)
