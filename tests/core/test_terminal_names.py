"""Names from the share reach a person's terminal with their control characters escaped
(core/terminal.py): `status`, `retry` and the daemon's text log lines; the JSON output and
the JSON log keep the exact names."""

from __future__ import annotations

import json

from support.boxes import Box
from support.canned import script

from deepart_batch.core.terminal import escape_controls

# ESC ] ... BEL retitles the terminal; BS and DEL rub out what was shown.
CONTROL_NAME = "city/\x1b]0;owned\x07tub\x08ing\x7fen.jpg"
SHOWN = "city/\\033]0;owned\\atub\\bing\\177en.jpg"   # as ls -b shows it
RAW = set("\x1b\x07\x08\x7f")


def test_escape_controls_writes_control_characters_as_ls_escape_does():
    assert escape_controls(CONTROL_NAME) == SHOWN
    assert escape_controls("a\tb\nc\rd") == "a\\tb\\nc\\rd"
    assert escape_controls("caf\u00e9 100% \"x\" back\\slash.jpg") == \
        "caf\u00e9 100% \"x\" back\\slash.jpg"          # ordinary names as they are
    assert escape_controls("a\u0085b\u2028c") == "a\\u0085b\\u2028c"
    assert escape_controls(b"bad\xff.jpg".decode("utf-8", "surrogateescape")) == "bad\\377.jpg"


def failed_box(tmp_path) -> Box:
    box = Box(tmp_path, canned=True, logging={"json_file": str(tmp_path / "log.jsonl")})
    box.drop("tubingen.jpg", CONTROL_NAME)
    with script("failed", match="tub"):
        result = box.run_once()
    assert not RAW & set(result.stderr), "raw control characters in the log lines"
    assert SHOWN in result.stderr
    return box


def test_status_shows_control_characters_in_names_escaped_and_json_exact(tmp_path):
    box = failed_box(tmp_path)
    out = box.cli("status", "--config", box.config, timeout=60)
    assert out.returncode == 0, out.stderr
    assert not RAW & set(out.stdout + out.stderr), out.stdout
    assert SHOWN in out.stdout, out.stdout
    exact = box.cli("status", "--config", box.config, "--json", timeout=60)
    assert CONTROL_NAME in {f["input"] for f in json.loads(exact.stdout)["failures"]}
    logged = [json.loads(line)["record"]["message"]
              for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert any(CONTROL_NAME in m for m in logged), "the JSON log keeps the exact name"


def test_retry_shows_the_name_escaped(tmp_path):
    box = failed_box(tmp_path)
    out = box.cli("retry", "--all-failed", "--config", box.config, timeout=60)
    assert out.returncode == 0, out.stderr
    assert not RAW & set(out.stdout + out.stderr), out.stdout
    assert SHOWN in out.stdout, out.stdout


def test_styles_shows_a_painting_name_escaped(tmp_path):
    box = Box(tmp_path, canned=True)
    (box.styles / "the_scream.jpg").rename(box.styles / "scr\x1b[2Jeam\x07.jpg")
    out = box.cli("styles", "--config", box.config, timeout=60)
    assert out.returncode == 0, out.stderr
    assert not RAW & set(out.stdout + out.stderr), out.stdout
    assert "scr\\033[2Jeam\\a.jpg" in out.stdout, out.stdout


def test_an_error_naming_a_file_shows_the_name_escaped(tmp_path):
    box = Box(tmp_path, canned=True)
    missing = tmp_path / "no\x1b]0;owned\x07.yaml"
    for command in ("status", "validate"):
        out = box.cli(command, "--config", missing, timeout=60)
        assert out.returncode == 2
        assert not RAW & set(out.stdout + out.stderr), out.stderr
        assert "no\\033]0;owned\\a.yaml" in out.stderr, out.stderr
