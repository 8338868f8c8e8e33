"""The shipped units under a real systemd: the service as an ops engineer installs and runs it.

One systemd 252 is booted per module in a private pid/mount/cgroup namespace and the project
is installed into it as README.md's "Install as a service" says (tests/support/systemd_ns.py
explains how, and what stands in for `pip install`). The units are the files in systemd/,
copied unmodified; the only change is the drop-in below, which shortens waits the tests
would otherwise sit through. Near the end, units made by `deepart-batch units` for a config
with other folders replace them for one test (README "Folders elsewhere"), and the shipped
ones are put back. The tests run in file order and share the booted systemd.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from support.boxes import config_text  # noqa: E402
from support.manifests import SLOW_FOLDER  # noqa: E402
from support.systemd_ns import SystemdNamespace, requirements  # noqa: E402
from support.tooling import need  # noqa: E402

pytestmark = pytest.mark.systemd

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parents[1] / "data"
DAEMON = "deepart-batch.service"
BULK = "deepart-batch-bulk.service"
TIMER = "deepart-batch-bulk.timer"
INBOX = "/srv/deepart/inbox"
OUTBOX = "/srv/deepart/outbox"
CONFIG = "/etc/deepart-batch/config.yaml"

# Test-only drop-in. WatchdogSec=60 and RestartSec=10 would make the watchdog test wait
# over a minute and the config-error test (five failed starts before the unit gives up)
# nearly one. Shorter values exercise the same mechanisms: the daemon reads WATCHDOG_USEC
# and pings at half of it. Everything else, sandbox included, is the shipped unit.
TEST_DROPIN = {DAEMON: {"zz-test-shorter-waits.conf": (
    "# tests/scenarios/test_systemd_service.py: shorter waits, same mechanisms\n"
    "[Service]\nWatchdogSec=15s\nRestartSec=1s\n")}}

# Everything in the inbox gets one tiny render; slow/ photos get a longer one, so that a
# stop can catch a render still running.
MANIFEST = SLOW_FOLDER

# Seconds a start may take before the test gives up: the unit allows 300 (TimeoutStartSec),
# a start here takes 3-15 s on a loaded 2-core box; failing sooner keeps a broken unit's run short.
START_TIMEOUT = 150
KILLED_AT_STOP = re.compile(r"Killing process \d+ \(.*\) with signal SIGKILL|left-over process")


def make_config() -> dict:
    """config.example.yaml with tiny renders, CPU only, and no metrics or notify endpoints."""
    config = yaml.safe_load((ROOT / "config.example.yaml").read_text())
    config["devices"] = ["cpu"]
    config["cards"] = False   # no style cards: the scenarios count renders and the queue
    config["defaults"].update({"size": 64, "steps": 4, "scales": [1.0]})
    config["watch"].update({"settle_seconds": 1, "poll_interval": 1})
    for key in ("textfile", "http_port", "http_host"):
        config["metrics"].pop(key, None)
    for key in ("webhook", "command"):
        config["notify"].pop(key, None)
    return config


@pytest.fixture(scope="module")
def ns(tmp_path_factory):
    for available, message in requirements():
        need(available, message)
    started = time.monotonic()
    box = SystemdNamespace(tmp_path_factory.mktemp("systemd-ns"), ROOT)
    try:
        box.boot()
        box.install(config_text(make_config(), sort_keys=False), MANIFEST,
                    [DATA / "the_scream.jpg", DATA / "starry_night.jpg"], dropins=TEST_DROPIN)
        box.sh(f"install -d -o deepart -g marketing -m 2770 {INBOX}/slow")  # a campaign folder
        yield box
    finally:
        box.close()
        print(f"\nsystemd namespace: {time.monotonic() - started:.1f} s from boot to close")


def timespan(text: str) -> float:
    """systemctl's time span ("5min 30s", "330ms") in seconds."""
    scale = {"h": 3600, "min": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    return sum(float(n) * scale[u] for n, u in re.findall(r"([\d.]+)(h|min|ms|us|s)", text))


def active(ns, unit=DAEMON) -> bool:
    return ns.prop(unit, "ActiveState") == "active"


def wait_active(ns, timeout: float = START_TIMEOUT) -> None:
    """Until the daemon is active (Type=notify: READY=1 arrived); fail early if it fails."""
    state = ns.wait_for(lambda: (s := ns.prop(DAEMON, "ActiveState")) in ("active", "failed")
                        and s, timeout, f"{DAEMON} active\n" + ns.journal(DAEMON)[-3000:])
    assert state == "active", (ns.systemctl("status", DAEMON, check=False).stdout
                               + ns.journal(DAEMON)[-3000:])


def ensure_running(ns) -> None:
    if not active(ns):
        ns.systemctl("reset-failed", DAEMON, check=False)
        ns.systemctl("start", "--no-block", DAEMON)
        wait_active(ns)


def drop(ns, name: str, rel: str) -> None:
    """Drop a photo as a team member would (README: install -m 0664 -g marketing).

    Into an existing folder: a photo copied into a folder made the same instant can miss
    inotify and wait for the next rescan (watch.rescan_seconds, 60 s)."""
    ns.sh(f"install -m 0664 -g marketing /opt/deepart-batch/src/tests/data/{name} {INBOX}/{rel}")


def exists(ns, path: str) -> bool:
    return ns.run(["test", "-e", path], check=False).returncode == 0


def test_enable_now_is_active_with_status(ns):
    t0 = time.monotonic()
    ns.systemctl("enable", "--now", "--no-block", DAEMON)
    wait_active(ns)                   # Type=notify: active once READY=1 arrived
    show = ns.show(DAEMON, "ActiveState", "SubState", "StatusText", "Result", "MainPID")
    assert show["ActiveState"] == "active", ns.systemctl("status", DAEMON, check=False).stdout
    assert show["SubState"] == "running"
    assert int(show["MainPID"]) > 0
    # STATUS= comes from the daemon's status ticks; give the first one a moment. A daemon
    # that cannot use its folders (say the outbox is missing from ReadWritePaths=) is also
    # active, by design, with "waiting: <the problem>": that is not a working service.
    status = ns.wait_for(lambda: ns.prop(DAEMON, "StatusText"), 30, "a StatusText")
    if status.startswith("waiting:"):
        status = ns.wait_for(
            lambda: not (s := ns.prop(DAEMON, "StatusText")).startswith("waiting:") and s,
            20, f"the daemon to use its folders; StatusText={status!r}")
    print(f"active after {time.monotonic() - t0:.1f} s; StatusText={status!r}")
    assert ns.prop(DAEMON, "UnitFileState") == "enabled"


def test_dropped_photo_renders_for_the_team(ns):
    ensure_running(ns)
    drop(ns, "tubingen.jpg", "tubingen.jpg")
    image, report = f"{OUTBOX}/tubingen.scream.jpg", f"{OUTBOX}/tubingen.scream.json"
    ns.wait_for(lambda: exists(ns, image) and exists(ns, report), 180,
                f"{image} and its report\n" + ns.journal(DAEMON)[-3000:], interval=1)
    owner, group, mode = ns.run(["stat", "-c", "%U %G %A", image]).stdout.split()
    assert (owner, group, mode) == ("deepart", "marketing", "-rw-rw-r--")
    assert ns.run(["stat", "-c", "%U %G", report]).stdout.split() == ["deepart", "marketing"]


def test_journalctl_finds_one_photos_lines_by_field(ns):
    """Records are journal entries with fields (ops/journald.py): PHOTO=... is one photo's
    story, with its campaign, job and the priority from the level."""
    import json
    ensure_running(ns)
    ns.run(["journalctl", "--sync"], check=False)
    out = ns.run(["journalctl", "--no-pager", "-u", DAEMON, "PHOTO=tubingen.jpg",
                  "-o", "json"], check=False).stdout
    entries = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert entries, ns.journal(DAEMON)[-3000:]
    assert all(e["PHOTO"] == "tubingen.jpg" and e["_SYSTEMD_UNIT"] == DAEMON for e in entries)
    messages = [e["MESSAGE"] for e in entries]
    print("PHOTO=tubingen.jpg:", *messages, sep="\n  ")
    assert any(re.search(r"job \d+ \(tubingen.jpg \[scream\]\) -> ", m) for m in messages)
    job = next(e for e in entries if "JOB" in e)
    assert job["PRIORITY"] == "6" and job["SYSLOG_IDENTIFIER"] == "deepart-batch"
    other = ns.run(["journalctl", "--no-pager", "-u", DAEMON, "PHOTO=never-dropped.jpg",
                    "-o", "cat"], check=False).stdout
    assert other.strip() == "", other


def test_reload_applies_a_changed_default_without_a_restart(ns):
    """`systemctl reload` (SIGHUP): defaults.size applies to the next photo, with the same
    MainPID; a field that needs a restart is named in the one reload line."""
    ensure_running(ns)
    good = ns.run(["cat", CONFIG]).stdout
    config = yaml.safe_load(good)
    config["defaults"]["size"] = 48
    config["watch"]["rescan_seconds"] = 30
    pid = ns.prop(DAEMON, "MainPID")
    since = ns.mark()
    try:
        ns.write(CONFIG, config_text(config, sort_keys=False))
        ns.systemctl("reload", DAEMON)
        line = ns.wait_for(lambda: re.search(r"reload: .*", ns.journal(DAEMON, since=since)),
                           60, "the reload line").group(0)
        print(line)
        assert "applied defaults" in line and "not applied: watch.rescan_seconds" in line
        drop(ns, "tubingen.jpg", "reloaded.jpg")
        image = f"{OUTBOX}/reloaded.scream.jpg"
        ns.wait_for(lambda: exists(ns, image), 180, image + "\n" + ns.journal(DAEMON)[-3000:],
                    interval=1)
        size = ns.run(["/opt/deepart-batch/.venv/bin/python", "-c",
                       f"from PIL import Image; print(max(Image.open({image!r}).size))"]).stdout
        assert int(size) == 48
        assert ns.prop(DAEMON, "MainPID") == pid and active(ns)
    finally:
        ns.write(CONFIG, good)
        ns.systemctl("reload", DAEMON, check=False)


def test_bulk_pass_beside_the_daemon_succeeds(ns):
    ensure_running(ns)
    since = ns.mark()
    ns.systemctl("start", BULK)              # oneshot: returns when the pass has ended
    show = ns.show(BULK, "Result", "ExecMainStatus", "ActiveState")
    assert show["Result"] == "success", ns.journal(BULK, since=since)
    assert show["ExecMainStatus"] == "0"
    assert "the daemon handles the inbox" in ns.journal(BULK, since=since)


def test_timer_calendar_parses_and_is_scheduled(ns):
    text = (ROOT / "systemd" / TIMER).read_text()
    calendar = re.search(r"^OnCalendar=(.+)$", text, re.M).group(1).strip()
    out = ns.run(["systemd-analyze", "calendar", calendar])
    assert "Next elapse:" in out.stdout, out.stdout
    ns.systemctl("enable", "--now", TIMER)
    assert ns.prop(TIMER, "ActiveState") == "active"
    assert ns.prop(TIMER, "NextElapseUSecRealtime") not in ("", "0")


def test_kill_9_restarts_the_daemon(ns):
    ensure_running(ns)
    before = ns.show(DAEMON, "MainPID", "NRestarts")
    ns.sh(f"kill -9 {before['MainPID']}")
    after = ns.wait_for(
        lambda: (s := ns.show(DAEMON, "MainPID", "NRestarts", "ActiveState"))["ActiveState"]
        == "active" and s["MainPID"] not in ("0", before["MainPID"]) and s, 180,
        "the daemon active again after kill -9")
    assert int(after["NRestarts"]) == int(before["NRestarts"]) + 1


def test_hung_main_loop_is_killed_by_the_watchdog(ns):
    ensure_running(ns)
    before = ns.show(DAEMON, "MainPID", "NRestarts")
    since = ns.mark()
    ns.sh(f"kill -STOP {before['MainPID']}")
    ns.wait_for(
        lambda: (s := ns.show(DAEMON, "MainPID", "ActiveState"))["ActiveState"] == "active"
        and s["MainPID"] not in ("0", before["MainPID"]), 180,
        "the daemon restarted after its watchdog fired")
    assert int(ns.prop(DAEMON, "NRestarts")) == int(before["NRestarts"]) + 1
    assert "Watchdog timeout" in ns.journal(DAEMON, since=since)


STOP: dict[str, str] = {}      # the drain test's journal, for the leftover-process test
CONFIG_ERROR: dict[str, str] = {}


def test_stop_drains_a_running_render(ns):
    ensure_running(ns)
    since = ns.mark()
    drop(ns, "golden_gate.jpg", "slow/golden_gate.jpg")
    try:
        ns.wait_for(lambda: re.search(r"job \d+ \(slow/golden_gate.jpg \[starry\]\) -> ",
                                      ns.journal(DAEMON, since=since)),
                    120, "the slow render handed to a worker")
    except AssertionError:
        print(f"since {since}:", ns.journal(DAEMON, since=since), "all:",
              ns.journal(DAEMON)[-5000:], ns.sh(f"ls -lR {INBOX}", check=False).stdout)
        raise
    output = f"{OUTBOX}/slow/golden_gate.starry.jpg"
    assert not exists(ns, output), "rendered before the stop: make the slow/ render longer"
    STOP["processes"] = ns.sh(   # pid and command line of the service user's processes
        "for d in /proc/[0-9]*; do [ \"$(stat -c %U $d 2>/dev/null)\" = deepart ] && "
        "echo \"${d#/proc/} $(tr '\\0' ' ' < $d/cmdline)\"; done; true", check=False).stdout
    t0 = time.monotonic()
    ns.systemctl("stop", DAEMON)
    took = time.monotonic() - t0
    STOP["journal"] = journal = ns.journal(DAEMON, since=since)
    print(f"stop drained the render in {took:.1f} s")
    assert took < timespan(ns.prop(DAEMON, "TimeoutStopUSec"))
    assert ns.prop(DAEMON, "Result") == "success", journal
    assert exists(ns, output), "the running render was not drained:\n" + journal
    assert "did not finish within drain_seconds" not in journal


def test_stop_leaves_no_process_for_systemd_to_kill(ns):
    need("journal" in STOP, "needs test_stop_drains_a_running_render's stop")
    killed = [line for line in STOP["journal"].splitlines() if KILLED_AT_STOP.search(line)]
    if killed:
        print("killed at stop:", *killed, "processes before the stop:", STOP["processes"],
              sep="\n")
    assert not killed, "\n".join(killed) + "\nprocesses before the stop:\n" + STOP["processes"]


def test_config_error_fails_the_unit_with_a_one_line_reason(ns):
    config = make_config()
    config["max_atempts"] = 3                     # a typo: unknown keys are errors
    good = ns.run(["cat", CONFIG]).stdout
    ns.systemctl("stop", DAEMON, check=False)
    ns.systemctl("reset-failed", DAEMON, check=False)
    ns.write(CONFIG, config_text(config, sort_keys=False))
    since = ns.mark()
    try:
        ns.systemctl("start", DAEMON, check=False)
        # RestartPreventExitStatus=2: a config error is not restarted, the unit stays failed.
        ns.wait_for(lambda: ns.prop(DAEMON, "ActiveState") == "failed", 180,
                    "the unit failed")
        CONFIG_ERROR["status"] = ns.systemctl("status", DAEMON, check=False).stdout
        journal = ns.journal(DAEMON, since=since)
    finally:
        ns.write(CONFIG, good)
        ns.systemctl("reset-failed", DAEMON, check=False)
    reasons = [line for line in journal.splitlines() if "error:" in line]
    assert reasons, journal
    assert all("max_atempts: unknown key (did you mean max_attempts?)" in line
               for line in reasons), "\n".join(reasons)
    print("the reason:", reasons[-1].split("]: ", 1)[-1])
    ensure_running(ns)


def test_config_error_reason_shows_in_systemctl_status(ns):
    need("status" in CONFIG_ERROR, "needs test_config_error_fails_the_unit_with_a_one_line_reason")
    status = CONFIG_ERROR["status"]
    assert "max_atempts: unknown key" in status, status
    assert "status=2/INVALIDARGUMENT" in status, status


MARKETING = "/srv/marketing"


def test_units_made_for_other_folders_start_and_render(ns):
    """README "Folders elsewhere": `deepart-batch units --config ... --install` for a config
    whose folders are not the defaults; the made units start in their sandbox and render."""
    config = make_config()
    config.update(inbox=f"{MARKETING}/inbox", outbox=f"{MARKETING}/outbox",
                  styles_dir=f"{MARKETING}/styles", manifest=f"{MARKETING}/inbox/manifest.yaml",
                  state_dir=f"{MARKETING}/state")
    other = "/etc/deepart-batch/marketing.yaml"
    ns.systemctl("stop", DAEMON, check=False)
    ns.sh(f"""set -e
install -d -o root    -g marketing -m 0750 {MARKETING}
install -d -o deepart -g marketing -m 2770 {MARKETING}/inbox
install -d -o deepart -g marketing -m 2750 {MARKETING}/outbox
install -d -o deepart -g deepart   -m 0750 {MARKETING}/state
install -d -o root    -g marketing -m 2775 {MARKETING}/styles
install -m 0664 -g marketing /srv/deepart/styles/* {MARKETING}/styles/
install -m 0664 -o deepart -g marketing /srv/deepart/inbox/manifest.yaml {MARKETING}/inbox/
""")
    ns.write(other, config_text(config, sort_keys=False))
    made = ns.run(["/opt/deepart-batch/.venv/bin/deepart-batch", "units", "--config", other,
                   "--install"])
    print(made.stdout)
    try:
        unit = ns.run(["cat", f"/etc/systemd/system/{DAEMON}"]).stdout
        assert f"watch --config {other}" in unit
        assert f"ReadWritePaths={MARKETING}/inbox {MARKETING}/outbox {MARKETING}/state" in unit
        ns.systemctl("daemon-reload")
        ns.systemctl("reset-failed", DAEMON, check=False)
        ns.systemctl("start", "--no-block", DAEMON)
        wait_active(ns)
        ns.sh(f"install -m 0664 -g marketing /opt/deepart-batch/src/tests/data/tubingen.jpg "
              f"{MARKETING}/inbox/elsewhere.jpg")
        image = f"{MARKETING}/outbox/elsewhere.scream.jpg"
        ns.wait_for(lambda: exists(ns, image), 180, image + "\n" + ns.journal(DAEMON)[-3000:],
                    interval=1)
        assert ns.run(["stat", "-c", "%U %G", image]).stdout.split() == ["deepart", "marketing"]
        ns.systemctl("stop", DAEMON)
        assert ns.prop(DAEMON, "Result") == "success"
    finally:
        ns.systemctl("stop", DAEMON, check=False)
        for name in ("deepart-batch.service", BULK, TIMER):   # the shipped units again
            ns.write(f"/etc/systemd/system/{name}", (ROOT / "systemd" / name).read_text())
        ns.systemctl("daemon-reload")
        ns.systemctl("reset-failed", DAEMON, check=False)


def test_no_failed_units_at_the_end(ns):
    out = ns.systemctl("list-units", "--failed", "--plain", "--no-legend", check=False).stdout
    assert out.strip() == "", out
