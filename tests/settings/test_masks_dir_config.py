"""masks_dir: where the team saves region masks, mirroring the inbox. Unset, it is `masks`
beside the inbox; it may not overlap the inbox (masks would be taken as photos); `validate`
refuses a missing masks folder when a rule requires masks (warns when rules use them if
there); one the service user cannot read: tests/settings/test_validate_access.py."""

from __future__ import annotations


import pytest

from deepart_batch.settings.config import load_config
from deepart_batch.errors import ConfigError
from support.boxes import Box, run_in_process

MASKED = """
styles:
  starry: {image: starry_night.jpg}
rules:
  - match: "**"
    mask: optional
    outputs: [{style: starry}]
"""


def test_masks_default_to_a_folder_beside_the_inbox(tmp_path):
    box = Box(tmp_path)
    config = load_config(box.config)
    assert config.masks_dir is None
    assert config.masks == tmp_path / "masks"
    box.rewrite_config(masks_dir="elsewhere/masks")
    assert load_config(box.config).masks == tmp_path / "elsewhere" / "masks"


def test_a_masks_folder_inside_the_inbox_is_refused_naming_the_key(tmp_path):
    box = Box(tmp_path)
    box.rewrite_config(masks_dir="inbox/masks")
    with pytest.raises(ConfigError, match="masks_dir: .*overlaps the inbox"):
        load_config(box.config)


def test_validate_refuses_a_missing_masks_folder_when_a_rule_requires_masks(tmp_path):
    box = Box(tmp_path)
    res = run_in_process(["validate", "--config", str(box.config)])
    assert res.returncode == 0, res.stderr
    assert "masks" not in res.stderr                  # no rule uses masks: not a word
    box.manifest.write_text(MASKED)                   # optional: said, not refused
    res = run_in_process(["validate", "--config", str(box.config)])
    assert res.returncode == 0, res.stderr
    assert f"warning: {box.config}: masks_dir (unset: masks beside the inbox): " \
           f"{tmp_path / 'masks'} does not exist" in res.stderr
    box.manifest.write_text(MASKED.replace("optional", "required"))
    res = run_in_process(["validate", "--config", str(box.config)])
    assert res.returncode == 2
    assert f"error: {box.config}: masks_dir" in res.stderr and "mask: required" in res.stderr
    (tmp_path / "masks").mkdir()
    res = run_in_process(["validate", "--config", str(box.config)])
    assert res.returncode == 0, res.stderr
    assert "masks_dir" not in res.stderr
