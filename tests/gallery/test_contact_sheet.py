"""Contact sheets for trying styles: 2 photos x 3 styles rendered small by the engine."""

import json
from pathlib import Path

from PIL import Image, ImageStat

from conftest import DATA, run_cli

ROOT = Path(__file__).resolve().parents[2]


def test_two_photos_by_three_styles(tmp_path):
    from deepart_batch.gallery.contact_sheet import SheetLayout
    photos = [DATA / "tubingen.jpg", DATA / "golden_gate.jpg"]
    styles = [DATA / "starry_night.jpg", DATA / "the_scream.jpg",
              ROOT / "examples" / "styles" / "shipwreck.jpg"]
    out = tmp_path / "sheet.png"
    res = run_cli("contact-sheet", "--photo", *photos, "--style", *styles, "--size", "32",
                  "--steps", "2", "--cell", "64", "--device", "cpu", "-o", out)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stderr.count("rendering ") == 6
    layout = SheetLayout(cell=64, label=20, pad=12)
    with Image.open(out) as im:
        # a header row of styles and a first column of photos around the 2 x 3 renders
        assert im.size == layout.size(2, 3) == (12 + 4 * 76, 12 + 3 * 96)
        assert json.loads(im.text["deepart:rows"]) == ["tubingen.jpg", "golden_gate.jpg"]
        assert json.loads(im.text["deepart:columns"]) == ["starry_night", "the_scream",
                                                          "shipwreck"]
        sheet = im.convert("RGB")
    for row in range(3):
        for col in range(4):
            x, y = layout.origin(row, col)
            picture = sheet.crop((x, y, x + 64, y + 64))
            label = sheet.crop((x, y + 64, x + 64, y + 84)).convert("L")
            if row == col == 0:
                continue                     # the corner holds the sheet's title only
            assert ImageStat.Stat(picture).stddev[0] > 10, (row, col)   # a picture, not blank
            has_text = label.getextrema()[0] < 100                     # dark strokes of a label
            assert has_text == (row == 0 or col == 0), (row, col)


def test_clear_errors(tmp_path):
    res = run_cli("contact-sheet", "-o", tmp_path / "sheet.png")
    assert res.returncode == 2 and "--photo PHOTO... and --style STYLE..." in res.stderr
    res = run_cli("contact-sheet", "--photo", DATA / "tubingen.jpg", "--style", tmp_path / "no.jpg",
                  "-o", tmp_path / "sheet.png")
    assert res.returncode == 2 and "no.jpg" in res.stderr, res.stderr
    res = run_cli("contact-sheet", "--photo", DATA / "tubingen.jpg", "--style",
                  DATA / "starry_night.jpg", "-o", tmp_path / "sheet.jpg")
    assert res.returncode == 2 and "PNG" in res.stderr
