"""Problem photos the team can act on, end to end: real daemon processes, real folders,
a real webhook receiver on 127.0.0.1 and a real notification command."""

import json
import shutil
import sys
from pathlib import Path

import pytest

from support.boxes import Box, stop, wait_for
from support.manifests import DATA
from support.http_receiver import HttpReceiver
from support.manifests import ONE_RULE

ODD = "odd <b>&'x' $(touch PWNED); `id`.jpg"


@pytest.fixture
def hook():
    h = HttpReceiver(status=200)   # `hang`: a stuck endpoint while set
    yield h
    h.close()


def _notify_box(tmp_path, hook, manifest=ONE_RULE, **extra):
    return Box(tmp_path, manifest=manifest,
               problems={"hold_seconds": 0.3, "hold_max_seconds": 1},
               notify={"webhook": hook.url, "timeout_seconds": 60, "retries": 0}, **extra)


def test_setup_trouble_holds_then_renders_by_itself(tmp_path, hook):
    box = _notify_box(tmp_path, hook, canned=True)   # a watch process, no render worker
    note = box.outbox / "_problems/city/a.jpg.txt"
    proc = box.start_watch()
    try:
        wait_for(lambda: (box.status()["daemon"] or {}).get("alive"), what="daemon up")
        painting = box.styles / "starry_night.jpg"
        shutil.move(painting, tmp_path / "away.jpg")          # someone removed a painting
        box.drop("tubingen.jpg", "city/a.jpg")
        box.drop("golden_gate.jpg", "misc/b.jpg")              # no rule for misc/
        info = wait_for(lambda: (i := box.status())["held"]["total"] == 2 and i,
                        what="two held photos")
        assert info["held"]["by_reason"] == {"style_missing": 1, "no_rule": 1}
        assert info["counts"]["failed"] == 0 and not any((box.state / "failed").iterdir())
        text = note.read_text()
        assert "starry_night.jpg" in text and "renders by itself" in text
        assert str(tmp_path) not in text                       # no server paths
        assert (box.outbox / "_problems/city/a.jpg").read_bytes() == \
            (DATA / "tubingen.jpg").read_bytes()              # the photo itself, to look at
        assert "No rule" in (box.outbox / "_problems/misc/b.jpg.txt").read_text()
        # a held photo is re-planned every backoff: read the text until it shows both
        wait_for(lambda: "held: 2 (no_rule 1, style_missing 1)" in
                 box.cli("status", "--config", box.config).stdout, what="held line in status")

        shutil.move(tmp_path / "away.jpg", painting)           # put back: nobody types anything
        wait_for(lambda: (box.outbox / "city/a.starry.jpg").exists(), what="render after restore")
        wait_for(lambda: not note.exists(), what="problem note removed")

        box.manifest.write_text(ONE_RULE + '  - match: "**"\n    outputs: [{style: starry}]\n')
        wait_for(lambda: (box.outbox / "misc/b.starry.jpg").exists(), what="render after edit")
        wait_for(lambda: not (box.outbox / "_problems/misc").exists(), what="note removed")
        wait_for(lambda: hook.kinds("misc/b.jpg") == ["held", "done"], what="webhook events")
        assert box.status()["held"]["total"] == 0
    finally:
        assert stop(proc) == 0
    # each event once, although each photo was tried several times while it waited
    assert hook.kinds("city/a.jpg") == ["held", "done"]
    done = [e for e in hook.events if e["event"] == "done" and e["photo"] == "city/a.jpg"][0]
    assert done["outputs"] == ["city/a.starry.jpg"] and done["campaign"] == "city"
    held = [e for e in hook.events if e["event"] == "held" and e["photo"] == "misc/b.jpg"][0]
    assert (held["reason"], held["category"]) == ("no_rule", "setup")
    assert str(tmp_path) not in json.dumps(hook.events)
    (box.root / "webhook-event.json").write_text(json.dumps(held, indent=2))


def test_a_stuck_endpoint_does_not_delay_renders(tmp_path, hook):
    box = _notify_box(tmp_path, hook, canned=True)   # a watch process, no render worker
    hook.hang.set()
    box.drop("tubingen.jpg", "city/one.jpg")
    box.drop("golden_gate.jpg", "city/two.jpg")
    proc = box.start_watch()
    try:
        # Both render and archive while the first notification is still stuck in the POST.
        wait_for(lambda: (box.state / "done/city/one.jpg").exists() and
                 (box.state / "done/city/two.jpg").exists(), what="both archived")
        assert hook.blocked == 1 and hook.events == []
        hook.release.set()
        wait_for(lambda: len(hook.events) == 2, what="events delivered after all")
    finally:
        hook.release.set()
        assert stop(proc) == 0
    assert sorted(e["photo"] for e in hook.events) == ["city/one.jpg", "city/two.jpg"]


def test_retry_brings_back_a_failed_photo_and_force_renders_again(tmp_path, hook):
    got = tmp_path / "events.jsonl"
    script = tmp_path / "receive.py"
    script.write_text("import sys\nopen(sys.argv[1], 'ab').write(sys.stdin.buffer.read() + "
                      "b'\\n')\n")
    box = _notify_box(tmp_path, hook, max_attempts=1, canned=True)   # watch: a process
    box.rewrite_config(notify={"command": [sys.executable, str(script), str(got)]})
    rel = f"city/{ODD}"
    box.drop("tubingen.jpg", rel)
    res = box.run_once(env={"DEEPART_INJECT_FAULT": "crash"})   # every attempt crashes
    assert res.returncode == 1, res.stderr[-3000:]
    note = box.outbox / "_problems/city" / (ODD + ".txt")
    error_json = box.outbox / "city" / (ODD + ".error.json")
    text = note.read_text()
    assert f"Photo:   {rel}\n" in text and f'"{ODD}"' in text and "crashed" in text
    assert "deepart-batch retry --photo" in text and str(tmp_path) not in text
    error = json.loads(error_json.read_text())
    assert (error["reason"], error["category"]) == ("crashed", "render")
    assert str(tmp_path) not in error_json.read_text()
    info = box.status()
    assert info["counts"]["failed"] == 1 and info["failures"][0]["time"]
    events = [json.loads(line) for line in got.read_text().splitlines()]
    assert [(e["event"], e["photo"]) for e in events] == [("failed", rel), ("pass_finished", None)]
    assert [(e["event"], e.get("photo")) for e in hook.events] == \
        [("failed", rel), ("pass_finished", None)]

    res = box.cli("retry", "--config", box.config, "--photo", ODD)
    assert res.returncode == 0 and "back in the inbox" in res.stdout, res.stderr
    assert (box.inbox / rel).exists() and not note.exists() and not error_json.exists()
    assert not list((box.state / "failed").rglob("*.error.json"))
    info = box.status()
    assert info["counts"]["failed"] == 0 and info["failures"] == []

    res = box.run_once()                                    # no fault this time
    assert res.returncode == 0, res.stderr[-3000:]
    first = "city/odd <b>&'x' $(touch PWNED); `id`.starry.jpg"
    assert box.outputs() == [first]
    assert not note.exists() and not error_json.exists()
    assert box.status()["counts"]["failed"] == 0

    # --force, while watch runs: rendered again next to the old output, which stays
    before = (box.outbox / first).read_bytes()
    proc = box.start_watch()
    try:
        res = box.cli("retry", "--config", box.config, "--photo", "city/*", "--force")
        assert res.returncode == 0 and "rendered again" in res.stdout, res.stderr
        second = first.replace(".starry.jpg", ".starry.2.jpg")
        wait_for(lambda: (box.outbox / second.replace(".jpg", ".json")).exists(),
                 what="forced render")
    finally:
        assert stop(proc) == 0
    assert box.outputs() == sorted([first, second]) and (box.outbox / first).read_bytes() == before
    assert json.loads((box.outbox / second.replace(".jpg", ".json")).read_text())["status"] == "done"
    assert not (tmp_path / "PWNED").exists() and not Path("PWNED").exists()
    (box.root / "problem-note.txt").write_text(text)


def test_retry_needs_a_target_and_imports_no_torch(tmp_path):
    box = Box(tmp_path)
    res = box.cli("retry", "--config", box.config)
    assert res.returncode == 2 and "--all-failed" in res.stderr
    res = box.cli("retry", "--config", box.config, "--all-failed")
    assert res.returncode == 1 and "nothing matched" in res.stderr
    import subprocess
    probe = ("import sys\nimport deepart_batch.daemon.schedule.retry, deepart_batch.daemon.admin.status\n"
             "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env=box.env, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_status_shows_elapsed_eta_and_draining(tmp_path):
    box = Box(tmp_path, manifest=ONE_RULE, drain_seconds=4,
              defaults={"size": 64, "steps": 2000, "log_every": 1, "scales": [1.0]})
    box.drop("tubingen.jpg", "city/slow.jpg")
    proc = box.start_watch()
    try:
        run = wait_for(lambda: (r := box.status()["running"]) and r[0]["progress"] and
                       r[0]["progress"]["step"] >= 2 and r[0], what="a running job with progress")
        assert run["elapsed_seconds"] > 0 and run["started"] and run["eta_seconds"] > 0
        assert "left" in box.cli("status", "--config", box.config).stdout
        proc.send_signal(15)
        info = wait_for(lambda: (i := box.status())["daemon"]["state"] == "draining" and i,
                        what="draining")
        assert info["daemon"]["alive"]
        assert "draining" in box.cli("status", "--config", box.config).stdout
    finally:
        assert stop(proc) == 0
    assert box.status()["daemon"]["state"] == "stopped"


def test_no_valid_manifest_holds_with_a_note_and_one_held_event(tmp_path, hook):
    """Photos waiting in the inbox for a valid manifest reach the team
    like any other hold: a `_problems` note and one `held` event (manifest_invalid)."""
    box = _notify_box(tmp_path, hook, manifest="styles: [unclosed\n", canned=True)
    note = box.outbox / "_problems/city/a.jpg.txt"
    proc = box.start_watch()
    try:
        wait_for(lambda: (box.status()["daemon"] or {}).get("alive"), what="daemon up")
        box.drop("tubingen.jpg", "city/a.jpg")
        wait_for(note.exists, what="problem note for a photo held by the manifest")
        assert "manifest has a mistake" in note.read_text()
        assert str(tmp_path) not in note.read_text()
        wait_for(lambda: hook.kinds("city/a.jpg") == ["held"], what="held event")
        held = [e for e in hook.events if e["photo"] == "city/a.jpg"][0]
        assert (held["reason"], held["category"]) == ("manifest_invalid", "setup")
        assert (box.inbox / "city/a.jpg").exists()         # it waits in the inbox

        box.manifest.write_text(ONE_RULE)
        wait_for(lambda: (box.outbox / "city/a.starry.jpg").exists(), what="render after fix")
        wait_for(lambda: not note.exists(), what="problem note removed")
        wait_for(lambda: hook.kinds("city/a.jpg") == ["held", "done"], what="done event")
    finally:
        assert stop(proc) == 0
    assert hook.kinds("city/a.jpg") == ["held", "done"]    # once, though seen every tick
