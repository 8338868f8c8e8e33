"""`deepart-batch units`: the shipped systemd/ files are its output for config.example.yaml,
byte for byte, and a config with other folders gets units naming them. (That those units
start under a real systemd: tests/scenarios/test_systemd_service.py.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from support.boxes import write_config
from support.tooling import need

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "systemd"
UNITS = ("deepart-batch.service", "deepart-batch-bulk.service", "deepart-batch-bulk.timer")
# README.md's install: the config at /etc/deepart-batch, the venv at /opt/deepart-batch/.venv
AS_INSTALLED = ["--config-path", "/etc/deepart-batch/config.yaml",
                "--entry-point", "/opt/deepart-batch/.venv/bin/deepart-batch"]


def units(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "deepart_batch.cli", "units", *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def split_printed(text: str) -> dict[str, str]:
    found: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines(keepends=True):
        if line.startswith("# ==> /etc/systemd/system/") and line.rstrip().endswith(" <=="):
            current = line.split("/")[-1].split(" ")[0]
            found[current] = []
        else:
            found[current].append(line)
    return {name: "".join(lines) for name, lines in found.items()}


def test_printed_units_for_the_example_config_are_the_shipped_files():
    out = units("--config", "config.example.yaml", *AS_INSTALLED)
    assert out.returncode == 0, out.stderr
    printed = split_printed(out.stdout)
    assert list(printed) == list(UNITS)
    for name in UNITS:
        shipped = (SHIPPED / name).read_text()
        ends = printed[name] if name == UNITS[-1] else printed[name][:-1]  # the "\n" between
        assert ends == shipped, f"{name} differs from what `deepart-batch units` prints"


def test_installed_units_for_the_example_config_are_the_shipped_files(tmp_path):
    out = units("--config", "config.example.yaml", *AS_INSTALLED, "--install", str(tmp_path))
    assert out.returncode == 0, out.stderr
    for name in UNITS:
        assert (tmp_path / name).read_bytes() == (SHIPPED / name).read_bytes(), name
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644


def other_folders_config(tmp_path: Path) -> Path:
    config = yaml.safe_load((ROOT / "config.example.yaml").read_text())
    config.update(inbox="/data/marketing/inbox", outbox="/data/marketing/out box",
                  styles_dir="/data/styles", manifest="/data/marketing/inbox/manifest.yaml",
                  state_dir="/var/lib/deepart-other")
    config["logging"]["json_file"] = "/var/log/deepart-batch/deepart.jsonl"
    config["metrics"]["textfile"] = "/run/prom/deepart.prom"
    return write_config(tmp_path / "config.yaml", config, sort_keys=False)


def test_a_config_with_other_folders_gets_units_naming_them(tmp_path):
    config = other_folders_config(tmp_path)
    out = units("--config", str(config), "--install", str(tmp_path))
    assert out.returncode == 0, out.stderr
    service = (tmp_path / "deepart-batch.service").read_text()
    bulk = (tmp_path / "deepart-batch-bulk.service").read_text()
    entry = Path(sys.prefix) / "bin" / "deepart-batch"       # the venv running the command
    assert f"ExecStart={entry} watch --config {config}\n" in service
    assert f"ExecStart={entry} run --once --config {config}\n" in bulk
    for text in (service, bulk):
        assert ('\nReadWritePaths=/data/marketing/inbox "/data/marketing/out box" '
                "/var/lib/deepart-other /var/log/deepart-batch\n") in text
        assert "\nReadWritePaths=-/run/prom\n" in text
        assert ('\nRequiresMountsFor=/data/marketing/inbox "/data/marketing/out box" '
                "/data/styles /var/lib/deepart-other /var/log/deepart-batch\n") in text
        assert "/srv/deepart" not in text and "/etc/deepart-batch" not in text


def test_a_config_error_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "config.yaml"
    bad.write_text((ROOT / "config.example.yaml").read_text() + "\nmax_atempts: 3\n")
    out = units("--config", str(bad))
    assert out.returncode == 2
    assert "max_atempts: unknown key" in out.stderr and "Traceback" not in out.stderr
    assert out.stdout == ""


def test_making_units_imports_no_torch():
    code = ("import sys; from deepart_batch.cli import main; "
            "rc = main(['units', '--config', 'config.example.yaml']); "
            "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert "ExecStart=" in out.stdout


def config_with(tmp_path: Path, **folders: str) -> Path:
    config = yaml.safe_load((ROOT / "config.example.yaml").read_text())
    config.update(folders)
    return write_config(tmp_path / "config.yaml", config, sort_keys=False)


INJECTED = "\nExecStartPre=+/usr/bin/touch /tmp/deepart-units-injected"


@pytest.mark.parametrize("key,value", [
    ("inbox", "/srv/deepart/inbox" + INJECTED),
    ("outbox", "/srv/deepart/outbox" + INJECTED),
    ("state_dir", "/var/lib/deepart\r[Service]"),
    ("outbox", "/srv/deepart/out\x1b]0;owned\x07box"),
    ("inbox", "/srv/deepart/in\x7fbox"),
])
def test_a_value_a_unit_cannot_hold_is_refused_naming_its_key(tmp_path, key, value):
    """A newline would start a directive of its own in both units (ExecStartPre=+ runs as
    root): no unit is written or printed, and the message names the config key."""
    config = config_with(tmp_path, **{key: value})
    target = tmp_path / "units"
    target.mkdir()
    for args in ((), ("--install", str(target))):
        out = units("--config", str(config), *AS_INSTALLED, *args)
        assert out.returncode == 2, out.stdout
        assert out.stdout == ""
        assert f"error: {key}: " in out.stderr and "Traceback" not in out.stderr
        assert "cannot hold safely" in out.stderr
        assert not any(c in out.stderr for c in "\x1b\x07\x7f\r"), "raw control characters"
        assert out.stderr.count("\n") == 1
    assert list(target.iterdir()) == []


AWKWARD = dict(inbox="/data/100% campaign/in box", outbox='/data/say "cheese"/out',
               state_dir="/var/lib/deepart$HOME", styles_dir="/data/back\\slash",
               manifest="/data/100% campaign/in box/manifest.yaml")


def test_awkward_paths_are_escaped_as_systemd_reads_them(tmp_path):
    """% is a specifier, spaces and quotes need quoting, $ is a variable on Exec lines:
    each is written so that systemd reads the path back."""
    config = config_with(tmp_path, **AWKWARD)
    target = tmp_path / "units"
    target.mkdir()
    script = Path(sys.executable).parent / "deepart-batch"   # verify wants it to exist
    out = units("--config", str(config), "--config-path", "/etc/deepart 100%/config.yaml",
                "--entry-point", str(script), "--install", str(target))
    assert out.returncode == 0, out.stderr
    analyze = shutil.which("systemd-analyze")
    need(analyze is not None, "systemd-analyze not found: `apt-get install systemd`")
    verified = subprocess.run([analyze, "verify", "--man=no", *(str(target / n) for n in UNITS)],
                              capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0 and (verified.stdout + verified.stderr).strip() == "", \
        verified.stdout + verified.stderr
    for name in UNITS[:2]:
        text = (target / name).read_text()
        assert ('\nReadWritePaths="/data/100%% campaign/in box" "/data/say \\"cheese\\"/out" '
                "/var/lib/deepart$HOME /var/lib/deepart-batch/logs\n") in text
        assert ('\nRequiresMountsFor="/data/100%% campaign/in box" '
                '"/data/say \\"cheese\\"/out" "/data/back\\\\slash" /var/lib/deepart$HOME '
                "/var/lib/deepart-batch/logs\n") in text
        assert '--config "/etc/deepart 100%%/config.yaml"\n' in text
        assert all(line.startswith(("#", "[")) or "=" in line or not line
                   for line in text.splitlines()), "a value broke out of its line"
