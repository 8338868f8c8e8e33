import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from conftest import DATA
from deepart_batch import images
from deepart_batch.errors import ImageError


def _save(img, path, **kw):
    img.save(path, **kw)
    return path


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (40, 20), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    path = _save(img, tmp_path / "rot.jpg", exif=exif.tobytes())
    assert images.load_image(path).size == (20, 40)


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16", "RGB"])
def test_modes_become_rgb(tmp_path, mode):
    base = Image.open(DATA / "tubingen.jpg").convert("RGB")
    if mode == "I;16":
        arr = (np.asarray(base.convert("L"), dtype=np.uint16) * 257)
        img = Image.fromarray(arr.astype("<u2"))
        assert img.mode.startswith("I;16")
    else:
        img = base.convert(mode)
    ext = "tiff" if mode in ("CMYK", "I;16") else "png"
    out = images.load_image(_save(img, tmp_path / f"x.{ext}"))
    assert out.mode == "RGB" and out.size == base.size
    if mode == "I;16":  # 16-bit scaled down, not clipped to white
        assert 40 < np.asarray(out).mean() < 200


def test_alpha_is_composited_onto_white(tmp_path):
    img = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    out = images.load_image(_save(img, tmp_path / "clear.png"))
    assert np.asarray(out).min() == 255


def _adobe_rgb_profile() -> bytes:
    """A minimal ICC v2 matrix/TRC profile with Adobe RGB (1998) primaries, gamma 2.2."""
    import struct

    def s15(v):
        return struct.pack(">i", round(v * 65536))

    def xyz(x, y, z):
        return b"XYZ " + b"\0" * 4 + s15(x) + s15(y) + s15(z)

    text = b"Adobe RGB test"
    desc = (b"desc" + b"\0" * 4 + struct.pack(">I", len(text) + 1) + text + b"\0"
            + b"\0" * 8 + b"\0" * 3 + b"\0" * 67)
    curve = b"curv" + b"\0" * 4 + struct.pack(">IH", 1, round(2.2 * 256)) + b"\0\0"
    tags = [(b"desc", desc), (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
            (b"rXYZ", xyz(0.6097, 0.3111, 0.0195)), (b"gXYZ", xyz(0.2053, 0.6257, 0.0609)),
            (b"bXYZ", xyz(0.1492, 0.0632, 0.7446)), (b"rTRC", curve), (b"gTRC", curve),
            (b"bTRC", curve), (b"cprt", b"text" + b"\0" * 4 + b"none\0\0\0\0")]
    offset = 128 + 4 + 12 * len(tags)
    table, blob = b"", b""
    for sig, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(blob), len(data))
        blob += data
    body = struct.pack(">I", len(tags)) + table + blob
    header = (struct.pack(">I", 128 + len(body)) + b"\0" * 4 + struct.pack(">I", 0x02100000)
              + b"mntrRGB XYZ " + b"\0" * 12 + b"acsp" + b"\0" * 24 + struct.pack(">I", 0)
              + s15(0.9642) + s15(1.0) + s15(0.8249) + b"\0" * 48)
    return header + body


def test_icc_profile_is_converted_to_srgb(tmp_path):
    img = Image.new("RGB", (8, 8), (40, 200, 60))
    tagged = images.load_image(_save(img, tmp_path / "adobe.png", icc_profile=_adobe_rgb_profile()))
    plain = images.load_image(_save(img, tmp_path / "plain.png"))
    assert np.asarray(plain)[0, 0].tolist() == [40, 200, 60]
    r, g, b = np.asarray(tagged)[0, 0].tolist()
    # Adobe RGB green is more saturated than sRGB's: in sRGB it clips and red drops to 0.
    assert g > 200 and r < 20, (r, g, b)


def test_pixel_limit_refuses_a_bomb_before_decoding(tmp_path):
    path = _save(Image.new("L", (8000, 7000)), tmp_path / "bomb.png")
    assert path.stat().st_size < 1_000_000  # small file, 56 MP of pixels
    with pytest.raises(ImageError, match=r"56\.0 MP, over the limit of 50\.0 MP"):
        images.load_image(path)
    with pytest.raises(ImageError, match="max_input_pixels"):
        images.probe(DATA / "tubingen.jpg", max_pixels=1000)


def test_truncated_jpeg_and_non_image(tmp_path):
    data = (DATA / "tubingen.jpg").read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="cut.jpg: image data is damaged or truncated"):
        images.load_image(cut)
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    with pytest.raises(ImageError, match="notes.jpg: not a readable JPEG image: the file is damaged"):
        images.load_image(text)
    with pytest.raises(ImageError, match="file not found"):
        images.load_image(tmp_path / "missing.jpg")


@pytest.mark.parametrize("ext,fmt", [(".png", "PNG"), (".jpg", "JPEG"), (".webp", "WEBP")])
def test_encode_by_extension_tagged_srgb(ext, fmt):
    img = images.load_image(DATA / "tubingen.jpg")
    data = images.encode_image(img, images.output_format("out" + ext))
    back = Image.open(io.BytesIO(data))
    assert back.format == fmt and back.size == img.size
    desc = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(back.info["icc_profile"])))
    assert "sRGB" in desc


def test_unknown_output_extension():
    with pytest.raises(ImageError, match="use .png, .jpg or .webp"):
        images.output_format("out.gif")


def test_tensor_round_trip():
    img = images.load_image(DATA / "golden_gate.jpg")
    assert np.array_equal(np.asarray(images.to_pil(images.to_tensor(img))), np.asarray(img))
