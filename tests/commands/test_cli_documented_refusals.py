"""Smaller things the docs promise, end to end through the CLI: every error of a
`defaults:` block, `prune --older-than 1m` refused as ambiguous, `retry` of an unknown job
exits 1 (docs/operations.md), and the install guide's demo manifest comment names its styles."""

import re
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from support.boxes import Box  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def test_validate_shows_every_error_of_a_defaults_block(tmp_path):
    box = Box(tmp_path, defaults={"size": 8, "steps": -2, "style_scale": 9,
                                  "optimizer": "nope"})
    res = box.cli("validate", "--config", box.config)
    assert res.returncode == 2, res.stdout + res.stderr
    errors = [line for line in res.stderr.splitlines() if ": error: " in line]
    for key in ("size", "steps", "style_scale", "optimizer"):
        assert any(f"defaults.{key}: " in line for line in errors), (key, errors)
    assert "Traceback" not in res.stderr


def test_validate_shows_every_error_of_a_manifest_style(tmp_path):
    box = Box(tmp_path, manifest="styles:\n  s: {image: starry_night.jpg, size: 8, "
                                 "style_scale: 9}\nrules:\n  - {match: '**', outputs: "
                                 "[{style: s}]}\n")
    res = box.cli("validate", "--config", box.config)
    assert res.returncode == 2
    assert "styles.s.size: " in res.stderr and "styles.s.style_scale: " in res.stderr, \
        res.stderr


def test_prune_refuses_an_ambiguous_month_or_minute(tmp_path):
    box = Box(tmp_path)
    res = box.cli("prune", "--older-than", "1m", "--config", box.config)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "ambiguous" in res.stderr and "1min" in res.stderr and "1mo" in res.stderr
    assert "Traceback" not in res.stderr and not res.stdout
    res = box.cli("prune", "--older-than", "1mo", "--dry-run", "--config", box.config)
    assert res.returncode == 0, res.stderr


def test_retry_of_an_unknown_job_exits_1(tmp_path):
    box = Box(tmp_path)
    guide = (ROOT / "docs" / "operations.md").read_text()
    assert "`retry` exits 1 when nothing matched" in guide
    box.state.mkdir(exist_ok=True)
    for args in (("4242",), ("--photo", "nowhere.jpg")):
        res = box.cli("retry", *args, "--config", box.config)
        assert res.returncode == 1, (args, res.returncode, res.stdout + res.stderr)
        assert "Traceback" not in res.stderr and res.stderr.strip(), res.stderr


def test_install_guide_names_the_demo_manifests_styles():
    """The comment above the install line says what examples/demo/manifest.yaml does: first
    match wins, so photos under city/ get Starry Night and the blend, NOT The Scream too."""
    manifest = yaml.safe_load((ROOT / "examples/demo/manifest.yaml").read_text())
    city, rest = manifest["rules"]
    assert city["match"] == "city/**" and rest["match"] == "**"
    assert [o.get("styles") or o.get("style") for o in city["outputs"]] == \
        [["starry"], {"starry": 0.7, "scream": 0.3}]
    assert rest["outputs"] == [{"style": "scream"}]
    lines = (ROOT / "docs" / "operations.md").read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if "examples/demo/manifest.yaml" in line
              and line.startswith("install"))
    comment = " ".join(line.lstrip("# ") for line in lines[at - 4:at] if line.startswith("#"))
    comment = comment[comment.rfind("manifest"):].lower()
    assert "city/" in comment and "starry night" in comment and "blend" in comment, comment
    assert "every other photo" in comment and "the scream" in comment, comment
    assert "every photo the scream" not in comment, comment
