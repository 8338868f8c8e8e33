"""`render --mask`: end to end on a small photo, and bad masks refused in one clear line."""

import hashlib
import json

import numpy as np
from PIL import Image

from conftest import DATA, run_cli
from test_cli_render import _assert_clean_error

PHOTO, STARRY, SCREAM = DATA / "tubingen.jpg", DATA / "starry_night.jpg", DATA / "the_scream.jpg"


def _mask(path, size=(128, 96)):
    """Left quarter black (kept), a red band (scream), the rest white (starry)."""
    w, h = size
    arr = np.full((h, w, 3), 255, np.uint8)
    arr[:, : w // 4] = 0
    arr[: h // 3, w // 2:] = (255, 0, 0)
    Image.fromarray(arr, "RGB").save(path)
    return path


def test_render_with_a_mask_end_to_end(tmp_path):
    mask = _mask(tmp_path / "mask.png", (64, 48))           # half the photo's size: scaled
    out = tmp_path / "out.png"
    res = run_cli("render", PHOTO, STARRY, SCREAM, "-o", out, "--mask", mask,
                  "--region", "white=starry_night", "--region",
                  "#ff0000=the_scream.jpg,style_weight=300", "--size", "48", "--steps", "3",
                  "--scales", "1")
    assert res.returncode == 0, res.stderr
    assert "region black: 25% of the photo, kept" in res.stderr
    report = json.loads(out.with_suffix(".json").read_text())
    regions = report["regions"]
    assert regions["mask"]["sha256"] == hashlib.sha256(mask.read_bytes()).hexdigest()
    by_name = {r["name"]: r for r in regions["regions"]}
    assert set(by_name) == {"white", "black", "#ff0000"}
    assert by_name["white"]["styles"] == {"starry_night": 1.0}
    assert by_name["#ff0000"]["styles"] == {"the_scream": 1.0}
    assert by_name["#ff0000"]["overrides"] == {"style_weight": 300.0}
    assert by_name["black"]["keep"] and by_name["black"]["final_loss"] is None
    assert by_name["white"]["final_loss"] > 0 and by_name["#ff0000"]["final_loss"] > 0
    assert report["final"]["regions"].keys() == {"white", "#ff0000"}


def test_bad_masks_and_regions_exit_2_with_one_clear_line(tmp_path):
    out = tmp_path / "o.png"
    args = ("render", PHOTO, STARRY, "-o", out, "--size", "32", "--steps", "1")
    square = tmp_path / "square.png"
    Image.new("L", (50, 50), 255).save(square)
    _assert_clean_error(run_cli(*args, "--mask", square), "square.png", "50x50",
                        "tubingen.jpg", "aspect ratio")
    notes = tmp_path / "mask.png"
    notes.write_text("hello")
    _assert_clean_error(run_cli(*args, "--mask", notes), "mask.png", "damaged")
    red = _mask(tmp_path / "red.png")
    _assert_clean_error(run_cli(*args, "--mask", red), "red.png", "#ff0000", "no region maps")
    _assert_clean_error(run_cli(*args, "--region", "white=keep"), "--region needs --mask")
    _assert_clean_error(run_cli(*args, "--mask", red, "--region", "pink=keep"), "pink",
                        "#rrggbb")
    _assert_clean_error(run_cli(*args, "--mask", red, "--region", "#ff0000=monet"),
                        "'monet' is not one of the STYLE images")
    _assert_clean_error(run_cli(*args, "--mask", red, "--region",
                                "#ff0000=starry_night,size=3"), "'size=3' is not allowed")
    assert not out.exists()
