"""As a user makes it: the team copies a folder into the inbox with
umask 022 (`cp -r`), the daemon runs as another user (a member of the team's group), and
cannot move the photos out of the new folder. They are held (inbox_permissions): a note in
_problems/, a `held` event, a line in `status`, one log line per folder, a non-zero exit of
`run --once`; and taken by themselves once the folder's permissions are fixed."""

import os
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from support.boxes import Box, stop, wait_for
from support.manifests import DATA
from support.http_receiver import HttpReceiver
from support.service_user import python_for, service_user

from deepart_batch.daemon.admin.bulk_pass import EXIT_HELD_OR_LEFT

ONE_RULE = """
styles:
  starry: {image: starry_night.jpg}
rules:
  - match: "**"
    outputs: [{style: starry}]
"""
LOG_LINE = "cannot take photos from"


@pytest.fixture
def svc():
    yield from service_user()


@pytest.fixture
def sink():
    s = HttpReceiver(status=200)
    yield s
    s.close()


@pytest.fixture
def root():
    path = Path(tempfile.mkdtemp(prefix="deepart-perm-", dir="/tmp"))  # not under a 0700 dir
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_folder_copied_with_umask_022_is_held_visible_and_released(root, svc, sink):
    box = Box(root, manifest=ONE_RULE, problems={"hold_seconds": 0.3, "hold_max_seconds": 1},
              notify={"webhook": sink.url, "timeout_seconds": 30, "retries": 0},
              watch={"settle_seconds": 0.3, "rescan_seconds": 1, "poll_interval": 0.5})
    python, pyenv = python_for(svc)
    cache = root / "cache"
    for d in (box.state, cache):
        d.mkdir()
    for d in (box.state, cache, box.outbox):
        os.chown(d, svc.uid, svc.gid)
    os.chown(box.inbox, 0, svc.team_gid)
    box.inbox.chmod(0o2775)                      # the README's set-up: setgid, group-writable
    env = {**box.env, **pyenv, "DEEPART_CACHE_DIR": str(cache), "HOME": str(root)}

    # a team member copies a folder of photos in, with the usual umask
    shoot = root / "from-camera" / "shoot"
    shoot.mkdir(parents=True)
    shutil.copy(DATA / "tubingen.jpg", shoot / "a.jpg")
    shutil.copy(DATA / "golden_gate.jpg", shoot / "b.jpg")
    subprocess.run(["sh", "-c", f"umask 022 && cp -r '{shoot}' '{box.inbox}/'"], check=True)
    st = os.stat(box.inbox / "shoot")
    assert st.st_gid == svc.team_gid and not st.st_mode & stat.S_IWGRP   # drwxr-sr-x

    cmd = [python, "-m", "deepart_batch.cli"]
    res = subprocess.run([*cmd, "run", "--once", "--config", str(box.config)], env=env,
                         capture_output=True, text=True, timeout=300, **svc.popen_kwargs())
    assert res.returncode == EXIT_HELD_OR_LEFT, res.stderr[-3000:]
    assert "left untaken" in res.stderr.strip().splitlines()[-1]
    assert res.stderr.count(LOG_LINE) == 1, res.stderr[-3000:]           # one per folder
    assert "Traceback" not in res.stderr
    note = box.outbox / "_problems/shoot/a.jpg.txt"
    assert note.exists() and (box.outbox / "_problems/shoot/b.jpg.txt").exists()
    assert "permission" in note.read_text().lower()
    wait_for(lambda: sorted(sink.kinds("shoot/a.jpg")) == ["held"], what="a held event")
    assert sink.of("shoot/a.jpg")[0]["reason"] == "inbox_permissions"
    assert sorted(p.name for p in (box.inbox / "shoot").iterdir()) == ["a.jpg", "b.jpg"]

    log = root / "watch.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([*cmd, "watch", "--config", str(box.config)], env=env,
                                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
                                **svc.popen_kwargs())
    try:
        def held():
            info = box.status()
            return info["held"]["by_reason"].get("inbox_permissions") == 2 and info
        info = wait_for(held, timeout=120, what="status showing the held photos")
        assert info["counts"]["held"] == 2
        text = box.cli("status", "--config", box.config).stdout
        assert "shoot/a.jpg:" in text and "inbox_permissions 2" in text, text
        time.sleep(3.5)                               # a few rescans (rescan_seconds 1)
        assert log.read_text().count(LOG_LINE) == 1, log.read_text()[-3000:]

        # the administrator fixes the folder: the photos are taken by themselves
        (box.inbox / "shoot").chmod(0o2775)
        wait_for(lambda: (box.outbox / "shoot/a.starry.jpg").exists()
                 and (box.outbox / "shoot/b.starry.jpg").exists(), timeout=180,
                 what="the photos rendered once the permissions are fixed")
        wait_for(lambda: not note.exists(), what="the note removed")
        # status.json is the daemon's view, written each tick: wait for the next one
        wait_for(lambda: box.status()["held"]["total"] == 0, what="no photo held")
    finally:
        assert stop(proc) == 0, log.read_text()[-3000:]
    assert "Traceback" not in log.read_text()


def test_a_folder_the_service_cannot_read_is_held_not_silently_skipped(root, svc, sink):
    box = Box(root, manifest=ONE_RULE,
              notify={"webhook": sink.url, "timeout_seconds": 30, "retries": 0})
    python, pyenv = python_for(svc)
    cache = root / "cache"
    for d in (box.state, cache):
        d.mkdir()
    for d in (box.state, cache, box.outbox):
        os.chown(d, svc.uid, svc.gid)
    os.chown(box.inbox, 0, svc.team_gid)
    box.inbox.chmod(0o2775)
    env = {**box.env, **pyenv, "DEEPART_CACHE_DIR": str(cache), "HOME": str(root)}
    subprocess.run(["sh", "-c", f"umask 077 && mkdir '{box.inbox}/private' && "
                                f"cp '{DATA / 'tubingen.jpg'}' '{box.inbox}/private/a.jpg'"],
                   check=True)

    def run_once():
        return subprocess.run([python, "-m", "deepart_batch.cli", "run", "--once", "--config",
                               str(box.config)], env=env, capture_output=True, text=True,
                              timeout=300, **svc.popen_kwargs())

    res = run_once()
    assert res.returncode == EXIT_HELD_OR_LEFT, res.stderr[-3000:]
    assert res.stderr.count(LOG_LINE) == 1 and "Traceback" not in res.stderr, res.stderr
    note = box.outbox / "_problems/private.txt"
    assert note.exists(), sorted(map(str, box.outbox.rglob("*")))
    wait_for(lambda: sink.kinds("private") == ["held"], what="a held event for the folder")
    assert sink.of("private")[0]["reason"] == "inbox_permissions"

    (box.inbox / "private").chmod(0o2775)
    (box.inbox / "private/a.jpg").chmod(0o664)
    os.chown(box.inbox / "private", 0, svc.team_gid)
    res = run_once()
    assert res.returncode == 0, res.stderr[-3000:]
    assert (box.outbox / "private/a.starry.jpg").exists()
    assert not note.exists()
