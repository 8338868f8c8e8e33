"""The manifests and images the tests and benchmarks share (one copy of each)."""

from __future__ import annotations

import shutil
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data"
STYLE_IMAGES = ("starry_night.jpg", "the_scream.jpg")
PHOTOS = ("tubingen.jpg", "golden_gate.jpg", "the_scream.jpg", "starry_night.jpg")

# Two rules: city/ photos get starry and a starry/scream blend, everything else scream.
MANIFEST = """
styles:
  starry: {image: starry_night.jpg}
  scream: {image: the_scream.jpg}
rules:
  - match: "city/**"
    outputs:
      - {styles: [starry]}
      - {styles: {starry: 0.7, scream: 0.3}}
  - match: "**"
    outputs: [{style: scream}]
"""

# One style for every photo: the fault scenarios' manifest.
ONE_STYLE = """
styles:
  scream: {image: the_scream.jpg}
rules:
  - match: "**"
    outputs: [{style: scream}]
"""

# Only city/ photos have a rule: anything else is held as "no rule".
ONE_RULE = """
styles:
  starry: {image: starry_night.jpg}
rules:
  - match: "city/**"
    outputs: [{style: starry}]
"""

# The systemd service tests: one tiny render for everything; slow/ photos get a longer
# one, so that a stop can catch a render still running.
SLOW_FOLDER = """\
styles:
  scream: {image: the_scream.jpg}
  starry: {image: starry_night.jpg}
rules:
  - match: "slow/**"
    outputs:
      - {style: starry, steps: 40}
  - match: "**"
    outputs:
      - {style: scream}
"""


def image(name: str) -> Path:
    """A bundled test image (tests/data)."""
    return DATA / name


def copy_styles(styles_dir: Path) -> None:
    styles_dir.mkdir(parents=True, exist_ok=True)
    for name in STYLE_IMAGES:
        shutil.copy(DATA / name, styles_dir / name)
