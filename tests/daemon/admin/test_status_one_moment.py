"""`status` is one snapshot: while a busy daemon starts and finishes renders, every
section it shows (devices, running, queue, counts) is read from the same moment, so the
job a device says it runs is the job the journal says is running."""

from deepart_batch.daemon.admin.status import collect, render_text
from deepart_batch.settings.config import load_config
from support.boxes import Box, watch_in_process
from support.canned import slow
from support.manifests import DATA, ONE_STYLE

PHOTOS = 5


def _disagreements(info: dict) -> list[str]:
    """What one status says twice and differently (empty when it agrees with itself)."""
    wrong = []
    running = {r["worker"]: r["job"] for r in info["running"]}
    devices = {d["worker"]: d for d in info["devices"]}
    for worker, device in devices.items():
        busy_with = device["job"] if device["state"] == "busy" else None
        if busy_with != running.get(worker):
            wrong.append(f"{worker} says {device['state']} job {device['job']}, the journal "
                         f"says job {running.get(worker)} runs there")
    counts = info["counts"]
    if counts.get("running", 0) != len(info["running"]):
        wrong.append(f"counts say {counts.get('running', 0)} running, "
                     f"{len(info['running'])} listed")
    queue = info["queue"]
    if queue.get("queued", counts.get("queued", 0)) != counts.get("queued", 0):
        wrong.append(f"queue says {queue.get('queued')} queued, counts {counts.get('queued')}")
    if queue["jobs"] != counts.get("queued", 0) + len(info["running"]):
        wrong.append(f"queue says {queue['jobs']} render(s) left, counts "
                     f"{counts.get('queued', 0)} queued + {len(info['running'])} running")
    return wrong


def _drop_distinct_photos(box: Box, n: int) -> None:
    """n photos with different bytes (identical ones would share one render)."""
    from PIL import Image
    with Image.open(DATA / "tubingen.jpg") as photo:
        small = photo.convert("RGB").resize((64, 48))
    for i in range(n):
        tmp = box.inbox / f".p{i}.part"
        small.rotate(i * 7).save(tmp, "JPEG")
        tmp.replace(box.inbox / f"p{i}.jpg")


def test_status_of_a_busy_daemon_agrees_with_itself(tmp_path):
    box = Box(tmp_path, manifest=ONE_STYLE, canned=True)
    _drop_distinct_photos(box, PHOTOS)
    config = load_config(box.config)
    seen: list[dict] = []

    def look_until_done() -> bool:
        info = collect(config)
        if info["running"] or info["devices"]:
            seen.append(info)
        return info["counts"].get("done", 0) == PHOTOS

    with slow("p", 0.6):   # each render runs a while: status looks at it mid-render
        watch_in_process(box, look_until_done, timeout=120)
    busy = [info for info in seen if info["running"] and info["devices"]]
    assert len(busy) >= 3, f"status saw a render running only {len(busy)} time(s)"
    wrong = [(w, render_text(info)) for info in seen for w in _disagreements(info)]
    assert not wrong, wrong[0]


def test_status_text_says_queued_and_running_as_the_counts_do(tmp_path):
    """The queue line counts what the jobs line counts: queued ones, then running ones."""
    info = {"state_dir": str(tmp_path), "counts": {"queued": 3, "running": 1},
            "daemon": None, "manifest": {"valid": True}, "devices": [], "running": [],
            "queue": {"jobs": 4, "queued": 3, "running": 1, "eta_seconds": 40.0,
                      "from_renders": 2, "slots": 1},
            "held": {"total": 0, "by_reason": {}, "photos": []}, "failures": []}
    text = render_text(info)
    assert "jobs: queued 3, running 1" in text
    assert "queue: 3 queued + 1 running" in text, text


def test_a_photo_taken_since_the_daemon_last_wrote_its_status_is_counted_once(tmp_path):
    """The daemon's status file (written each second) still lists a photo as waiting in
    the inbox for a valid manifest; the journal, a moment later, has taken it and queued
    its render. status counts it once, as the journal does: queued, not also held."""
    import json
    import os
    import time

    from deepart_batch.core.layout import StateLayout
    from deepart_batch.journal import Journal
    from support.boxes import write_config
    from support.jobs import toy_spec
    for d in ("in", "out", "state", "styles"):
        (tmp_path / d).mkdir()
    write_config(tmp_path / "config.yaml", {"inbox": "in", "outbox": "out",
                                            "state_dir": "state", "styles_dir": "styles",
                                            "manifest": "m.yaml"})
    layout = StateLayout(tmp_path / "state")
    written = time.time()
    layout.status_file.write_text(json.dumps({
        "pid": os.getpid(), "time": written, "mode": "watch", "workers": [],
        "held_in_inbox": ["city/a.jpg", "city/b.jpg"],
        "held_in_inbox_reasons": {"city/a.jpg": "manifest_invalid",
                                  "city/b.jpg": "manifest_invalid"}}))
    journal = Journal(layout.journal)
    photo = journal.begin_claim("city/a.jpg", "city", "/w/a.jpg")   # taken since
    journal.finish_claim(photo, "sha")
    journal.add_job(photo, "k", "city", 0, "s", toy_spec(), "/o/a.jpg", "/o/a.json")
    journal.close()
    info = collect(load_config(tmp_path / "config.yaml"))
    assert info["counts"]["queued"] == 1, info["counts"]
    assert [p["input"] for p in info["held"]["photos"]] == ["city/b.jpg"], info["held"]
    assert info["counts"]["held"] == info["held"]["total"] == 1, info
