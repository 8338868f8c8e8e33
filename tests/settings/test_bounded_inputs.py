"""Bounded inputs: alias bombs, escaping name templates, FIFOs given to render."""

import json
import os
import subprocess
import sys
import time

import pytest

from conftest import DATA
from support.boxes import Box

from deepart_batch.errors import ConfigError
from deepart_batch.settings.config import load_config
from deepart_batch.settings.manifest import ManifestStore, check_manifest, error_file_for


def alias_bomb(levels: int, top: str) -> str:
    """A few hundred bytes whose aliases expand to 9**levels strings."""
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]")
    lines.append(f"{top}: *l{levels - 1}")
    return "\n".join(lines) + "\n"


def test_manifest_alias_bomb_is_refused_in_bounded_time_and_size(tmp_path):
    box = Box(tmp_path)
    text = alias_bomb(6, "styles") + "rules: [{match: '**', outputs: [{style: a}]}]\n"
    assert len(text) < 700
    box.manifest.write_text(text)
    config = load_config(box.config)
    t0 = time.monotonic()
    problems = check_manifest(box.manifest, box.styles, config)
    assert time.monotonic() - t0 < 5
    assert problems and sum(map(len, problems)) < 4000, sum(map(len, problems))
    assert any("alias" in p for p in problems), problems
    store = ManifestStore(box.manifest, box.styles, config)   # the daemon's live reload
    assert store.current is None
    assert error_file_for(box.manifest).stat().st_size < 8000


def test_config_alias_bomb_validate_prints_little(tmp_path):
    box = Box(tmp_path)
    base = box.config.read_text().replace("defaults:", "defaults_old:")
    box.config.write_text(alias_bomb(6, "defaults") + base.split("defaults_old:")[0] +
                          "\n".join(l for l in base.split("defaults_old:")[1].splitlines()
                                    if not l.startswith("  ")) + "\n")
    res = box.cli("validate", "--config", box.config, timeout=60)
    assert res.returncode == 2
    assert len(res.stdout) + len(res.stderr) < 4000, len(res.stderr)
    assert "alias" in res.stderr


def test_huge_document_is_refused(tmp_path):
    box = Box(tmp_path)
    box.manifest.write_text(box.manifest.read_text() + "#" + "x" * (2 * 10**6) + "\n")
    problems = check_manifest(box.manifest, box.styles, load_config(box.config))
    assert len(problems) == 1 and "too large" in problems[0], problems


def test_long_problem_messages_are_clipped(tmp_path):
    box = Box(tmp_path)
    box.manifest.write_text("styles: {a: {image: " + "x" * 50_000 + ".jpg}}\n"
                            "rules: [{match: '**', outputs: [{style: a}]}]\n")
    problems = check_manifest(box.manifest, box.styles, load_config(box.config))
    assert problems and all(len(p) < 2000 for p in problems), [len(p) for p in problems]


@pytest.mark.parametrize("template", ["{campaign}/{stem}.{style}.{ext}",
                                      "{campaign}//{stem}.{style}.{ext}",
                                      "x/{campaign}/../../{stem}.{style}.{ext}"])
def test_name_template_that_escapes_for_the_empty_campaign_is_refused(tmp_path, template):
    box = Box(tmp_path, output={"name_template": template})
    with pytest.raises(ConfigError) as info:
        load_config(box.config)
    message = str(info.value)
    assert "output.name_template" in message and "campaign" in message, message


def test_name_template_with_campaign_inside_a_name_still_works(tmp_path):
    box = Box(tmp_path, output={"name_template": "{campaign}-{stem}.{style}.{ext}"})
    assert load_config(box.config).output.name_template.startswith("{campaign}-")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs mkfifo")
def test_render_refuses_a_fifo(tmp_path):
    fifo = tmp_path / "y.jpg"
    os.mkfifo(fifo)
    try:
        res = subprocess.run([sys.executable, "-m", "deepart_batch.cli", "render", str(fifo),
                              str(DATA / "starry_night.jpg"), "-o", str(tmp_path / "o.png")],
                             capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:   # run() has killed the hung child
        pytest.fail("render hung on a FIFO")
    assert res.returncode == 2
    last = res.stderr.strip().splitlines()[-1]
    assert "y.jpg" in last and "not a regular file" in last, res.stderr
    assert "Traceback" not in res.stderr


def test_log_records_are_bounded(tmp_path):
    from loguru import logger

    from deepart_batch.ops.logsetup import MAX_MESSAGE_CHARS, configure_logging
    log = tmp_path / "log.jsonl"
    configure_logging("INFO", json_file=log, journald=False, enqueue=False)
    try:
        logger.error("manifest problem: " + "lol," * 500_000)
    finally:
        configure_logging("INFO", journald=False, enqueue=False)
    record = json.loads(log.read_text().splitlines()[-1])["record"]
    assert len(record["message"]) < MAX_MESSAGE_CHARS + 100
    assert "characters cut" in record["message"]


def test_render_with_colour_preservation_says_which_image_each_loss_is_of(tmp_path):
    out = tmp_path / "o.png"
    res = subprocess.run([sys.executable, "-m", "deepart_batch.cli", "render",
                          str(DATA / "tubingen.jpg"), str(DATA / "starry_night.jpg"), "-o",
                          str(out), "--size", "32", "--steps", "4", "--scales", "1",
                          "--preserve-color", "luminance"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "loss of the optimised image" in res.stderr
    assert "after restoring the photo's colours" in res.stderr
    report = json.loads(out.with_suffix(".json").read_text())
    assert "luminance" in report["final_measured_on"]


def test_validate_gaps_blend_note_did_you_mean_and_enum_choices(tmp_path):
    box = Box(tmp_path)
    box.manifest.write_text(
        "styles:\n  starry: {image: starry_night.jpg}\n  scream: {image: the_scream.jpg}\n"
        "rules:\n  - match: '**'\n    outptus: []\n"
        "  - match: 'x/**'\n    outputs: [{styles: {starry: 0.7, scream: 0.5}}]\n")
    err = box.cli("validate", "--config", box.config, timeout=60).stderr
    assert "rules[0].outptus: unknown key (did you mean outputs?)" in err, err
    assert "note: " in err and "sum to 1.2, not 1; they are scaled to {starry: 0.583, " \
        "scream: 0.417}" in err, err
    box = Box(tmp_path / "b", defaults={"size": 64, "steps": 4, "preserve_color": True})
    res = box.cli("validate", "--config", box.config, timeout=60)
    assert res.returncode == 2
    assert "defaults.preserve_color: True is not allowed; use none, luminance or match" \
        in res.stderr and "yes/no" in res.stderr
