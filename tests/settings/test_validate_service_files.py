"""`validate` checks what the service runs or writes outside its folders:
the notify command, the folders of logging.json_file and metrics.textfile. The example
config ships no live notification endpoints."""

import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from support.boxes import Box  # noqa: E402
from support.boxes import write_config  # noqa: E402

from deepart_batch.settings.config import load_config

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_ships_notifications_commented_out():
    config = load_config(ROOT / "config.example.yaml")
    assert config.notify.webhook is None and config.notify.command is None
    text = (ROOT / "config.example.yaml").read_text()
    assert "# webhook: https://" in text and "# command: [" in text   # examples, kept


def validate(tmp_path, **overrides):
    box = Box(tmp_path, **overrides)
    res = box.cli("validate", "--config", box.config)
    return res, box


def test_a_valid_box_validates(tmp_path):
    res, _ = validate(tmp_path)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("command, expected", [
    ("/usr/local/bin/deepart-mail-nowhere team@example.com", "does not exist"),
    ("deepart-mail-nowhere team@example.com", "is not found on PATH"),
])
def test_a_missing_notify_command_is_an_error(tmp_path, command, expected):
    res, _ = validate(tmp_path, notify={"command": command})
    assert res.returncode == 2, res.stdout + res.stderr
    line = next(line for line in res.stderr.splitlines() if "notify.command" in line)
    assert expected in line and "deepart-mail-nowhere" in line and "Traceback" not in res.stderr


def test_notify_command_must_be_executable(tmp_path):
    script = tmp_path / "mail.sh"
    script.write_text("#!/bin/sh\ncat >/dev/null\n")
    script.chmod(0o644)
    res, _ = validate(tmp_path, notify={"command": [str(script), "team@example.com"]})
    assert res.returncode == 2 and "notify.command" in res.stderr, res.stderr
    assert str(script) in res.stderr
    script.chmod(0o755)
    res, box = validate(tmp_path, notify={"command": [str(script), "team@example.com"]})
    assert res.returncode == 0, res.stderr


def test_the_metrics_folder_must_exist_and_be_writable(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    res, _ = validate(tmp_path, metrics={"textfile": str(blocker / "deepart.prom")})
    assert res.returncode == 2, res.stderr
    prom = [line for line in res.stderr.splitlines() if "metrics.textfile" in line]
    assert prom and "is not a folder" in prom[0], res.stderr
    config = yaml.safe_load((tmp_path / "config.yaml").read_text())
    config["metrics"]["textfile"] = str(tmp_path / "node_exporter" / "deepart.prom")
    write_config(tmp_path / "config.yaml", config)
    res = _cli(tmp_path / "config.yaml")   # node_exporter's folder: never made by us
    assert res.returncode == 2 and "node_exporter does not exist" in res.stderr, res.stderr
    (tmp_path / "node_exporter").mkdir()
    res = _cli(tmp_path / "config.yaml")
    assert res.returncode == 0, res.stderr


def test_a_log_folder_the_service_creates_is_not_an_error(tmp_path):
    """As config.example.yaml has it: json_file under <state_dir>/logs/, which `run --once`
    creates itself; validate checks the nearest folder that exists instead."""
    res, box = validate(tmp_path, canned=True,
                        logging={"json_file": str(tmp_path / "state" / "logs" /
                                                  "deepart.jsonl")})
    assert res.returncode == 0, res.stderr
    assert not (tmp_path / "state").exists()   # validate creates nothing
    res = box.run_once()
    assert res.returncode == 0, res.stderr[-2000:]
    assert (tmp_path / "state" / "logs" / "deepart.jsonl").is_file()


def test_a_missing_manifest_is_reported_once(tmp_path):
    box = Box(tmp_path)
    box.manifest.unlink()
    res = box.cli("validate", "--config", box.config)
    assert res.returncode == 2, res.stderr
    lines = [line for line in res.stderr.splitlines() if str(box.manifest) in line]
    assert len(lines) == 1 and "does not exist" in lines[0], res.stderr


def _cli(config):
    import os
    import subprocess
    return subprocess.run([sys.executable, "-m", "deepart_batch.cli", "validate", "--config",
                           str(config)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
