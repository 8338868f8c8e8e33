"""End to end: a photo and its mask dropped into a real box are rendered for real by `run
--once` (a pool worker, the bundled weights, 12 steps at 64 px); the kept half of the
output is the photo there, the report records the mask (as the masks folder names it,
with its sha256) and each region, and the gallery outlines the regions over the output.
An approved preview is printed with the mask it was rendered with, even when the team has
repainted the mask since (that renders the photo again, beside the first render)."""

from __future__ import annotations

import json
import shutil
import re

import numpy as np
import pytest
from PIL import Image

from deepart_batch.core.hashing import sha256_file
from support.boxes import Box
from support.manifests import DATA

MANIFEST = """
styles:
  starry: {image: starry_night.jpg}
rules:
  - match: "**"
    mask: required
    regions: {white: starry, black: keep}
    outputs: [{style: starry}]
"""


@pytest.fixture(scope="module")
def masked(tmp_path_factory):
    """A box whose photo shop/shoe.png (64x48) was rendered by `run --once` with its mask:
    left half painted, right half kept."""
    tmp_path = tmp_path_factory.mktemp("masked")
    box = Box(tmp_path, manifest=MANIFEST, output={"format": "png"},
              defaults={"size": 64, "steps": 12, "scales": [1.0], "log_every": 1,
                        "print_size": 128})
    photo = box.inbox / "shop/shoe.png"          # 64 px already: no resize to compare
    photo.parent.mkdir(parents=True)
    Image.open(DATA / "tubingen.jpg").convert("RGB").resize((64, 48)).save(photo)
    expected = np.asarray(Image.open(photo), dtype=np.float64)
    mask = tmp_path / "masks/shop/shoe.png"
    mask.parent.mkdir(parents=True)
    labels = Image.new("L", (64, 48), 0)
    labels.paste(255, (0, 0, 32, 48))
    labels.save(mask)
    res = box.run_once(timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    return box, expected, mask, sha256_file(mask)


def test_a_masked_photo_renders_through_the_daemon_with_its_kept_half_the_photo(masked):
    box, expected, mask, _ = masked
    tmp_path = box.root

    out = np.asarray(Image.open(box.outbox / "shop/shoe.starry.png").convert("RGB"),
                     dtype=np.float64)
    assert out.shape == expected.shape
    kept_mae = np.abs(out[:, 32:] - expected[:, 32:]).mean()
    painted_mae = np.abs(out[:, :28] - expected[:, :28]).mean()
    assert kept_mae <= 1.0, f"kept region differs from the photo by {kept_mae:.2f}/255"
    assert painted_mae > 2.0, f"the painted half was not painted ({painted_mae:.2f}/255)"

    report = json.loads((box.outbox / "shop/shoe.starry.json").read_text())
    regions = report["regions"]
    assert regions["mask"]["sha256"] == sha256_file(mask)
    assert regions["mask"]["path"] == "masks/shop/shoe.png"
    by_name = {r["name"]: r for r in regions["regions"]}
    assert set(by_name) == {"white", "black"}
    assert by_name["black"]["keep"] and not by_name["white"]["keep"]
    assert by_name["white"]["styles"] == {"starry": 1.0}
    assert abs(by_name["white"]["area"] - 0.5) < 0.01
    assert str(tmp_path) not in json.dumps(regions)    # no server path in the outbox

    # the gallery lays the mask's region edges over the output's thumbnail
    page = (box.outbox / "shop/index.html").read_text()
    [outline] = re.findall(r'<img class="outline" src="([^"]+)"', page)
    edges = np.asarray(Image.open(box.outbox / "shop" / outline))[..., 3] > 0
    columns = np.flatnonzero(edges.any(axis=0))
    assert edges.shape[1] >= 64 and len(columns) <= 4   # one vertical edge, 2 px wide
    assert abs(columns.mean() / edges.shape[1] - 0.5) < 0.05


def test_a_print_keeps_its_previews_mask_when_the_mask_changed_since(masked):
    box, _, mask, first_sha = masked
    preview = box.outbox / "shop/shoe.starry.png"
    shutil.copy(preview, box.outbox / "_approve" / preview.name)
    other = Image.new("L", (64, 48), 255)        # the team repaints the mask meanwhile
    other.paste(0, (0, 0, 16, 48))
    other.save(mask)
    res = box.run_once(timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    printed = json.loads((box.outbox / "shop/shoe.starry.print.json").read_text())
    assert printed["regions"]["mask"]["sha256"] == first_sha
    assert printed["regions"]["mask"]["path"] == "masks/shop/shoe.png"
    assert printed["output"]["approved_from"]["preview"] == "shop/shoe.starry.png"
    # the changed mask rendered the photo again, beside the first render
    again = json.loads((box.outbox / "shop/shoe.starry.2.json").read_text())
    assert again["regions"]["mask"]["sha256"] == sha256_file(mask) != first_sha
    by_name = {r["name"]: r["area"] for r in again["regions"]["regions"]}
    assert abs(by_name["black"] - 0.25) < 0.01
