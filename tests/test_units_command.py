"""`deepart-batch units`: the shipped systemd/ files are its output for config.example.yaml,
byte for byte, and a config with other folders gets units naming them. (That those units
start under a real systemd: tests/test_systemd_service.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
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
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


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
