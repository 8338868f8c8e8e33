"""The shipped systemd units: systemd's own verifier plus the directives we rely on."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from support.tooling import need  # noqa: E402

UNIT_DIR = Path(__file__).resolve().parents[2] / "systemd"
DAEMON = "deepart-batch.service"
BULK = "deepart-batch-bulk.service"
TIMER = "deepart-batch-bulk.timer"
UNITS = (DAEMON, BULK, TIMER)
DEFAULT_DRAIN_SECONDS = 300  # config default for drain_seconds

# Lines of `systemd-analyze verify` output that are about the test machine,
# not the units. Empty on Debian 12 (systemd 252) as root; add an entry only
# with a reason next to it.
IGNORED_VERIFY_OUTPUT: tuple[re.Pattern[str], ...] = ()


def parse_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Section -> [(key, value)], keeping repeats (DeviceAllow= etc.)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        key, _, value = line.partition("=")
        assert current is not None, f"{path.name}: {line!r} outside a section"
        current.append((key.strip(), value.strip()))
    return sections


def values(unit: dict, section: str, key: str) -> list[str]:
    return [v for k, v in unit.get(section, []) if k == key]


def one(unit: dict, section: str, key: str) -> str:
    found = values(unit, section, key)
    assert len(found) == 1, f"[{section}] {key}= expected once, got {found}"
    return found[0]


def seconds(timespan: str) -> float:
    """systemd time span ("330", "5min 30s", "20h") in seconds."""
    scale = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "ms": 0.001}
    total = 0.0
    for number, suffix in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", timespan):
        total += float(number) * scale[suffix]
    return total


@pytest.fixture(scope="module")
def units() -> dict[str, dict]:
    return {name: parse_unit(UNIT_DIR / name) for name in UNITS}


# --- systemd-analyze verify ---------------------------------------------------


@pytest.fixture(scope="module")
def analyze() -> str:
    path = shutil.which("systemd-analyze")
    need(path is not None,
         "systemd-analyze not found: `apt-get install systemd` to verify the unit files")
    return path


INSTALLED = "/opt/deepart-batch/.venv/bin/deepart-batch"


def venv_script() -> Path:
    """The deepart-batch console script of the venv running these tests."""
    return Path(sys.executable).parent / "deepart-batch"


def verifiable_copies(dest: Path, edit=lambda name, text: text) -> list[Path]:
    """Copies whose ExecStart= runs this test venv's deepart-batch, arguments unchanged.

    verify fails on a missing executable, and /opt/deepart-batch is only
    there on an installed host. User=/Group= need no rewrite: verify does not
    resolve them.
    """
    script = venv_script()
    need(script.exists(),
         f"{script} not found: install the package into the test venv (pip install -e .)")
    out = []
    for name in UNITS:
        text = (UNIT_DIR / name).read_text()
        text = re.sub(r"(?m)^ExecStart=\S+", f"ExecStart={script}", text)
        (dest / name).write_text(edit(name, text))
        out.append(dest / name)
    return out


def verify(analyze: str, paths: list[Path]) -> tuple[int, list[str]]:
    proc = subprocess.run(
        [analyze, "verify", "--man=no", *map(str, paths)],
        capture_output=True, text=True, timeout=60,
    )
    lines = (proc.stdout + proc.stderr).splitlines()
    complaints = [
        line for line in lines if line.strip() and not any(p.search(line) for p in IGNORED_VERIFY_OUTPUT)
    ]
    return proc.returncode, complaints


def test_systemd_analyze_verify_is_clean(analyze, tmp_path):
    code, complaints = verify(analyze, verifiable_copies(tmp_path))
    assert code == 0, complaints
    assert complaints == []


def test_verify_check_catches_a_bad_directive(analyze, tmp_path):
    """Guards the test above: a typo only warns (exit 0), so output must be checked."""

    def typo(name: str, text: str) -> str:
        return text.replace("Type=notify", "Type=notifyy") if name == DAEMON else text

    code, complaints = verify(analyze, verifiable_copies(tmp_path, typo))
    assert any("notifyy" in line for line in complaints), complaints


def test_verify_catches_missing_executable(analyze, tmp_path):
    paths = verifiable_copies(tmp_path)
    daemon = tmp_path / DAEMON
    text = re.sub(r"(?m)^ExecStart=\S+", "ExecStart=/nonexistent/deepart-batch", daemon.read_text())
    daemon.write_text(text)
    code, complaints = verify(analyze, paths)
    assert code != 0


@pytest.mark.parametrize("name", [DAEMON, BULK])
def test_execstart_runs_a_command_this_cli_has(units, name, tmp_path):
    """The unit's command line, run from the test venv with the config swapped for a real one
    and `--help` added: the script starts, and the command and its options exist."""
    args = shlex.split(one(units[name], "Service", "ExecStart"))
    assert args[0] == INSTALLED
    script = venv_script()
    need(script.exists(), f"{script} not found")
    config = args.index("--config") + 1
    args[config] = str(tmp_path / "config.yaml")
    res = subprocess.run([str(script), *args[1:], "--help"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert f"usage: deepart-batch {args[1]}" in res.stdout
    from deepart_batch.cli import build_parser
    parsed = build_parser().parse_args(args[1:])
    assert parsed.config == args[config]


# --- directives the app and docs depend on --------------------------------------


def test_daemon_is_notify_with_watchdog_and_restart(units):
    s = units[DAEMON]
    assert one(s, "Service", "Type") == "notify"
    assert one(s, "Service", "NotifyAccess") == "main"
    assert one(s, "Service", "ExecStart") == (
        "/opt/deepart-batch/.venv/bin/deepart-batch watch --config /etc/deepart-batch/config.yaml"
    )
    assert seconds(one(s, "Service", "WatchdogSec")) == 60
    assert one(s, "Service", "Restart") == "on-failure"
    assert seconds(one(s, "Service", "RestartSec")) == 10
    assert values(s, "Install", "WantedBy") == ["multi-user.target"]


@pytest.mark.parametrize("name", [DAEMON, BULK])
def test_graceful_drain_on_stop(units, name):
    s = units[name]
    assert one(s, "Service", "KillMode") == "mixed"
    assert one(s, "Service", "KillSignal") == "SIGTERM"
    assert seconds(one(s, "Service", "TimeoutStopSec")) > DEFAULT_DRAIN_SECONDS


@pytest.mark.parametrize("name", [DAEMON, BULK])
def test_identity_and_writable_paths(units, name):
    s = units[name]
    assert one(s, "Service", "User") == "deepart"
    assert one(s, "Service", "Group") == "deepart"
    assert one(s, "Service", "SupplementaryGroups") == "marketing"
    assert one(s, "Service", "UMask") == "0002"
    rw = " ".join(values(s, "Service", "ReadWritePaths")).split()
    for path in ("/srv/deepart/inbox", "/srv/deepart/outbox", "/var/lib/deepart-batch"):
        assert path in rw
    assert one(s, "Service", "StateDirectory") == "deepart-batch"
    assert one(s, "Service", "CacheDirectory") == "deepart-batch"
    assert "XDG_CACHE_HOME=/var/cache/deepart-batch" in values(s, "Service", "Environment")


@pytest.mark.parametrize("name", [DAEMON, BULK])
def test_hardening_keeps_gpus_visible(units, name):
    s = units[name]
    for key, expected in {
        "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
        "NoNewPrivileges": "yes", "CapabilityBoundingSet": "",
        "SystemCallFilter": "@system-service", "DevicePolicy": "closed",
    }.items():
        assert one(s, "Service", key) == expected, key
    # PrivateDevices=yes would hide /dev/nvidia* and silently push renders to the CPU.
    assert values(s, "Service", "PrivateDevices") in ([], ["no"], ["false"])
    allowed = values(s, "Service", "DeviceAllow")
    for dev in ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "char-nvidia-frontend"):
        assert f"{dev} rw" in allowed
    assert "MemoryDenyWriteExecute" not in {k for k, _ in s["Service"]}  # breaks CUDA JIT


def test_bulk_and_daemon_share_identical_sandbox(units):
    """Both run the same code on the same folders; drift here is a bug."""
    first = next(i for i, (k, _) in enumerate(units[DAEMON]["Service"]) if k == "User")
    daemon_tail = units[DAEMON]["Service"][first:]
    first = next(i for i, (k, _) in enumerate(units[BULK]["Service"]) if k == "User")
    assert units[BULK]["Service"][first:] == daemon_tail


def test_bulk_is_oneshot_and_failures_stay_failures(units):
    s = units[BULK]
    assert one(s, "Service", "Type") == "oneshot"
    assert one(s, "Service", "ExecStart") == (
        "/opt/deepart-batch/.venv/bin/deepart-batch run --once --config /etc/deepart-batch/config.yaml"
    )
    assert values(s, "Service", "SuccessExitStatus") == []  # exit 1 (some jobs failed) must fail the unit
    assert values(s, "Service", "WatchdogSec") == []
    assert values(s, "Service", "Restart") == []
    assert values(s, "Service", "RemainAfterExit") in ([], ["no"])  # "yes" would block later timer runs
    assert "Install" not in s  # started by the timer, never enabled itself


def test_timer(units):
    t = units[TIMER]
    assert one(t, "Timer", "OnCalendar") == "*-*-* 02:00:00"
    assert one(t, "Timer", "Persistent") == "true"
    assert seconds(one(t, "Timer", "RandomizedDelaySec")) == 300
    assert one(t, "Timer", "Unit") == BULK
    assert values(t, "Install", "WantedBy") == ["timers.target"]
