"""Soak: >= 1,000 files (valid, corrupt, partial, odd names) dropped into `watch` while it
is killed with -9 at random moments >= 20 times. Not in CI (about 10-15 minutes on 2 cores).

    nice -n 10 python -m benchmarks.soak [--files 1000] [--kills 20] [--seed 1]

Besides the kills, three faults an unlucky site meets, each once while the daemon
runs: the outbox renamed away and back (a share unmounted for a moment); another program
holding the journal with BEGIN EXCLUSIVE for 45 s (a backup, a person in sqlite3); and the
whole run notifies a webhook that trickles its answer one byte every 2 s, so the final
SIGTERM meets a busy notification queue and must still exit 0 within NOTIFY_STOP_LIMIT.

Beside the photos, the other ways in run too: style cards are on (a painting is added and
one replaced while the daemon runs), and previews are approved into `outbox/_approve/` as
they appear, one in three after its report was edited on the share (a problem approval).
Every approval dropped must end archived exactly once (done/_approve or failed/_approve) or
still be waiting.

Every dropped file has unique bytes, so its fate is found by content whatever its name
became (not UTF-8, too long, a collision): lost = in neither done/ nor failed/ nor still
held in the inbox or work/; duplicated = archived more than once. A failed restart is a
start that exits by itself with an error instead of running until it is killed.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image

from tests.support.boxes import Box
from tests.support.journal_files import held_exclusively
from tests.support.manifests import ONE_STYLE
from tests.support.http_receiver import HttpReceiver  # a real hostile endpoint

LOCK_SECONDS = 45.0       # the exclusive journal lock
AWAY_SECONDS = 8.0        # how long the outbox is renamed away
NOTIFY_STOP_LIMIT = 60.0  # the final SIGTERM with a trickling webhook must exit within


def outbox_away_and_back(outbox: Path) -> str:
    """Rename the outbox away and back; whatever was created in its place meanwhile is
    moved aside (folder supervision is not this soak's subject) and counted."""
    away = outbox.with_name("outbox.away")
    os.rename(outbox, away)
    time.sleep(AWAY_SECONDS)
    recreated = 0
    if outbox.exists():
        recreated = sum(1 for p in outbox.rglob("*") if p.is_file())
        os.rename(outbox, outbox.with_name(f"outbox.recreated-{time.time_ns()}"))
    os.rename(away, outbox)
    return f"outbox away {AWAY_SECONDS:.0f} s and back ({recreated} file(s) written in its place)"


def lock_journal(journal: Path) -> str:
    """Another program holds the journal with BEGIN EXCLUSIVE for LOCK_SECONDS."""
    with held_exclusively(journal):
        time.sleep(LOCK_SECONDS)
    return f"journal held with BEGIN EXCLUSIVE for {LOCK_SECONDS:.0f} s"


def tiny_image(rng: random.Random, fmt: str) -> bytes:
    w, h = rng.randint(16, 40), rng.randint(12, 40)   # a valid photo: >= 16 px long side
    im = Image.new("RGB", (w, h), tuple(rng.randrange(256) for _ in range(3)))
    im.putpixel((rng.randrange(w), rng.randrange(h)), tuple(rng.randrange(256) for _ in range(3)))
    buf = io.BytesIO()
    im.save(buf, format=fmt, **({"quality": rng.randint(60, 95)} if fmt == "JPEG" else {}))
    return buf.getvalue()


def plan_files(n: int, rng: random.Random) -> list[tuple[bytes, bytes, str]]:
    """(relpath bytes, content, kind) with unique contents."""
    out, seen = [], set()
    campaigns = [b"", b"spring/", b"summer sale/", b"caf\xc3\xa9/", b"deep/er/"]
    i = 0
    while len(out) < n:
        i += 1
        roll = rng.random()
        camp = rng.choice(campaigns)
        if roll < 0.6:
            kind, fmt = "valid", rng.choice(["JPEG", "PNG"])
            data = tiny_image(rng, fmt)
            name = f"photo {i}.{'jpg' if fmt == 'JPEG' else 'png'}".encode()
        elif roll < 0.72:
            kind, data = "corrupt", os.urandom(rng.randint(1, 3000))
            name = f"broken-{i}.jpg".encode()
        elif roll < 0.84:
            kind = "partial"
            full = tiny_image(rng, "JPEG")
            data = full[: rng.randint(20, len(full) - 10)]
            name = f"cut-{i}.jpg".encode()
        else:
            kind = "odd"
            data = tiny_image(rng, "JPEG")
            name = rng.choice([b"caf\xe9-%d.jpg" % i, b"x" * 240 + b"%d.jpg" % i,
                               b"-dash %d .JPG" % i, "日本語-{}.jpg".format(i).encode(),
                               b"no-extension-%d" % i, b"q'uote\"s %d.jpeg" % i])
        digest = hashlib.sha256(data).digest()
        if digest in seen:
            continue
        seen.add(digest)
        out.append((camp + name, data, kind))
    return out


def drop(inbox: bytes, rel: bytes, data: bytes, rng: random.Random) -> None:
    path = inbox + b"/" + rel
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if rng.random() < 0.3:  # a slow copy: half now, the rest a moment later
        with open(path, "wb") as fh:
            fh.write(data[: len(data) // 2])
            fh.flush()
            time.sleep(rng.uniform(0.05, 0.6))
            fh.write(data[len(data) // 2:])
    else:
        tmp = os.path.dirname(path) + b"/.up-" + os.urandom(4).hex().encode()
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--approvals", type=int, default=10, help="previews approved in the run")
    ap.add_argument("--keep", action="store_true", help="keep the soak directory")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="deepart-soak-"))
    hook = HttpReceiver(trickle=2.0, path="/hook")
    box = Box(root, ONE_STYLE, drain_seconds=30,
              # a real render, but shallow: the soak tests the daemon, not VGG's depth
              defaults={"size": 16, "steps": 1, "scales": [1.0],
                        "content_layers": ["relu1_1"], "style_layers": ["relu1_1", "relu2_1"]},
              watch={"settle_seconds": 0.5, "rescan_seconds": 3, "poll_interval": 0.5},
              notify={"webhook": hook.url, "timeout_seconds": 3600, "retries": 0},
              cards=True)
    inbox, outbox, state, config = box.inbox, box.outbox, box.state, box.config
    files = plan_files(args.files, rng)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = open(root / "watch.log", "ab")

    def start():
        return subprocess.Popen([sys.executable, "-m", "deepart_batch.cli", "watch",
                                 "--config", str(config)], stdout=log, stderr=subprocess.STDOUT,
                                env=env, cwd=root, start_new_session=True)

    dropping = threading.Event()

    def dropper():
        gap = 0.9 * (args.kills * 9.0) / len(files)  # spread the drops over the kills
        for rel, data, _ in files:
            drop(os.fsencode(inbox), rel, data, rng)
            time.sleep(rng.uniform(0, 2 * gap))
        dropping.set()

    approved: list[str] = []
    approving = threading.Event()

    def approver():
        """Approve previews as they appear; one in three after its report was edited."""
        folder = outbox / "_approve"
        gap = 0.9 * (args.kills * 9.0) / max(1, args.approvals)
        while len(approved) < args.approvals:
            time.sleep(rng.uniform(0, 2 * gap))
            try:
                previews = [p for p in outbox.rglob("*.jpg") if p.with_suffix(".json").is_file()
                            and not {"_styles", "_approve", "_problems"} & set(p.parts)
                            and ".print" not in p.name and not p.name.startswith(".")]
                if not previews:
                    continue
                preview = rng.choice(previews)
                if len(approved) % 3 == 2:
                    report = json.loads(preview.with_suffix(".json").read_text())
                    report["seed"] = None
                    preview.with_suffix(".json").write_text(json.dumps(report))
                folder.mkdir(exist_ok=True)
                if (folder / preview.name).exists():
                    continue               # the last copy of that name is not taken yet
                shutil.copy(preview, folder / preview.name)
                approved.append(preview.name)
            except OSError:                # the outbox is away for a moment
                continue
        approving.set()

    def painter():
        """A painting added, then one replaced, while the daemon runs (style cards)."""
        time.sleep(args.kills * 3.0)
        shutil.copy(box.styles / "the_scream.jpg", box.styles / "added.jpg")
        time.sleep(args.kills * 3.0)
        shutil.copy(box.styles / "starry_night.jpg", box.styles / "added.jpg")

    t0 = time.monotonic()
    threading.Thread(target=dropper, daemon=True).start()
    threading.Thread(target=approver, daemon=True).start()
    threading.Thread(target=painter, daemon=True).start()
    restarts = failed_restarts = kills = 0
    faults = {max(1, args.kills // 3): lambda: outbox_away_and_back(outbox),
              max(2, 2 * args.kills // 3): lambda: lock_journal(state / "journal.sqlite")}
    proc = start()
    while kills < args.kills:
        if kills in faults and proc.poll() is None:
            time.sleep(3)                      # the daemon is up, then the fault
            print(f"  fault: {faults.pop(kills)()}", flush=True)
        deadline = time.monotonic() + rng.uniform(1.0, 16.0)
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        if proc.poll() is not None:  # it stopped by itself: a failed start or crash
            failed_restarts += 1
            print(f"  daemon exited by itself with {proc.returncode}", flush=True)
        else:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
        proc = start()
        restarts += 1
    dropping.wait()
    approving.wait(timeout=120)
    print(f"  {kills} kills done after {time.monotonic() - t0:.0f} s; draining", flush=True)

    def settled():
        left = [p for p in inbox.rglob("*") if p.is_file()]
        waiting = [p for p in (outbox / "_approve").glob("*") if p.is_file()
                   and not p.name.endswith(".error.json")] \
            if (outbox / "_approve").is_dir() else []
        work = list((state / "work").iterdir())
        return not left and not work and not waiting
    deadline = time.monotonic() + 900
    while not settled() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(1)
    stop_seconds = None
    if proc.poll() is None:
        time.sleep(3)                          # a notification is in flight, trickling
        proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        try:
            code = proc.wait(timeout=NOTIFY_STOP_LIMIT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            code = proc.wait()
            print(f"  SIGTERM with a trickling webhook: not stopped in "
                  f"{NOTIFY_STOP_LIMIT:.0f} s", flush=True)
        stop_seconds = time.monotonic() - sent
        if code != 0:
            failed_restarts += 1
    else:
        failed_restarts += 1
    hook.close()
    elapsed = time.monotonic() - t0

    archived: dict[bytes, list[str]] = {}
    for where in ("done", "failed"):
        for p in (state / where).rglob("*"):
            if p.is_file() and not p.name.endswith(".error.json"):
                archived.setdefault(hashlib.sha256(p.read_bytes()).digest(), []).append(where)
    held_hashes = {hashlib.sha256(p.read_bytes()).digest()
                   for p in list(inbox.rglob("*")) + list((state / "work").iterdir())
                   if p.is_file()}
    done = failed = held = lost = duplicated = 0
    approvals_archived = sum(1 for where in ("done", "failed")
                             for p in (state / where / "_approve").glob("*")
                             if p.is_file() and not p.name.endswith(".error.json")) \
        if (state / "done").is_dir() else 0
    approvals_waiting = sum(1 for p in (outbox / "_approve").glob("*") if p.is_file()
                            and not p.name.endswith(".error.json")) \
        if (outbox / "_approve").is_dir() else 0
    approvals_lost = max(0, len(approved) - approvals_archived - approvals_waiting)
    approvals_duplicated = max(0, approvals_archived + approvals_waiting - len(approved))
    prints = [p for p in outbox.rglob("*.print*.jpg")]
    cards = [p for p in (outbox / "_styles").glob("*.jpg")] if (outbox / "_styles").is_dir() \
        else []
    lost += approvals_lost
    duplicated += approvals_duplicated
    for rel, data, kind in files:
        fate = archived.get(hashlib.sha256(data).digest(), [])
        if len(fate) > 1:
            duplicated += 1
        if fate:
            done += fate[0] == "done"
            failed += fate[0] == "failed"
        elif hashlib.sha256(data).digest() in held_hashes:
            held += 1
        else:
            lost += 1
            print(f"  lost: {rel!r} ({kind})", flush=True)
    orphans = [p for p in outbox.rglob("*.jpg") if not p.with_suffix(".json").exists()
               and not any(x.startswith(".") or x == "_problems"  # thumbnails, problem copies
                           for x in p.relative_to(outbox).parts)]
    temps = [p for p in list(outbox.rglob(".*")) + list(state.rglob(".*"))
             if p.is_file() and p.name.endswith(".part")]
    kinds = {k: sum(1 for f in files if f[2] == k) for k in ("valid", "corrupt", "partial", "odd")}
    print(f"dropped          {len(files)}  ({', '.join(f'{k} {v}' for k, v in kinds.items())})")
    print(f"done             {done}")
    print(f"failed           {failed}")
    print(f"held             {held}")
    print(f"lost             {lost}")
    print(f"duplicated       {duplicated}")
    print(f"approvals        {len(approved)} dropped, {approvals_archived} archived, "
          f"{approvals_waiting} waiting; {approvals_lost} lost, {approvals_duplicated} "
          f"duplicated; {len(prints)} print(s)")
    print(f"style cards      {len(cards)} card image(s) in outbox/_styles")
    print(f"restarts         {restarts}  (after {kills} kill -9s)")
    print(f"failed restarts  {failed_restarts}")
    print(f"images without a report {len(orphans)}; temp files {len(temps)}")
    print(f"SIGTERM stop     {stop_seconds if stop_seconds is None else round(stop_seconds, 1)}"
          f" s with a trickling webhook ({hook.requests} webhook request(s) in the run)")
    print(f"elapsed          {elapsed:.0f} s; journal and logs in {root}")
    for p in orphans + temps:
        print(f"  left: {p}")
    if not args.keep and not (lost or duplicated or failed_restarts or orphans or temps):
        shutil.rmtree(root, ignore_errors=True)
    return 1 if (lost or duplicated or failed_restarts or orphans or temps) else 0


if __name__ == "__main__":
    sys.exit(main())
