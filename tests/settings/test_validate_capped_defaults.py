"""`validate` says what applies where one setting caps another: the default print_size
(4096) under the default limits.max_size (2048) gives 2048 px prints, said, not silent."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from support.boxes import Box  # noqa: E402

CAPPED_RULE = """
styles:
  starry: {image: starry_night.jpg}
rules:
  - match: "big/**"
    outputs: [{style: starry, print_size: 3000}]
  - match: "**"
    outputs: [{style: starry}]
"""


def notes(res) -> list[str]:
    return [line for line in res.stderr.splitlines()
            if "print_size" in line and "limits.max_size" in line]


def test_the_default_print_size_capped_by_max_size_is_said(tmp_path):
    box = Box(tmp_path)
    res = box.cli("validate", "--config", box.config)
    assert res.returncode == 0, res.stderr
    [line] = notes(res)
    assert "the default print_size 4096 is above limits.max_size 2048" in line, line
    assert "printed at 2048 px" in line and line.startswith("deepart-batch: note: ")


def test_a_print_size_within_the_limit_says_nothing(tmp_path):
    box = Box(tmp_path, limits={"max_size": 4096})
    res = box.cli("validate", "--config", box.config)
    assert res.returncode == 0 and notes(res) == [], res.stderr


def test_a_rule_whose_print_size_is_capped_is_named(tmp_path):
    box = Box(tmp_path, manifest=CAPPED_RULE,
              defaults={"size": 64, "steps": 4, "print_size": 1024})
    res = box.cli("validate", "--config", box.config)
    assert res.returncode == 0, res.stderr
    [line] = notes(res)
    assert 'rule "big/**" output starry: print_size 3000' in line, line
    assert "made at 2048 px" in line and str(box.manifest) in line
