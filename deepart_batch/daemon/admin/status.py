"""`status`: what the journal and the running daemon say, for people and for scripts.

`status --json` is a stable interface (README, "status --json"): keys are only added, and
`schema` changes if one ever has to change meaning. Times are ISO 8601 UTC strings.
Reads the journal read-only, in one read transaction (a busy daemon's commits between
its reads do not make the counts and the queue disagree), and imports no torch, so it is
quick while renders run. What a device is doing (busy, its job and progress) is read in
that same transaction, from the running jobs (the journal records the slot each one was
given); the daemon's status file, written once a second, only names the slots and says
what a slot without a job is doing (idle, starting), so a device never names a job that
ended a moment ago.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path, PurePosixPath

from ...core.layout import StateLayout
from ...core.state_texts import message
from ...core.states import DeliveryStatus, FailureReason, JobState, SlotState
from ...core.timefmt import human_duration, iso
from ...journal import Job, JournalDamaged, JournalReader, JournalUnavailable, open_reader

SCHEMA_VERSION = 1


def _daemon_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _plain(reason, relpath: str, detail: str | None) -> str:
    return message(reason, PurePosixPath(relpath).name, detail or "")[0]


def _eta(job: Job, now: float) -> tuple[float | None, float | None]:
    """Elapsed seconds and an estimate of those left, from steps done and their rate."""
    if not job.started_at:
        return None, None
    elapsed = max(0.0, now - job.started_at)
    progress = job.progress or {}
    step, total = progress.get("step") or 0, progress.get("total") or 0
    eta = (total - step) * elapsed / step if step > 0 and total >= step else None
    return round(elapsed, 1), None if eta is None else round(eta, 1)


HELD_LISTED = 50   # held photos listed by name; all of them are counted


def _held(journal: JournalReader) -> dict:
    """Held photos and renders counted per reason by the journal, the oldest few listed:
    a backlog held at once (a painting gone) costs `status` no more than a few."""
    photos = [{"input": i.relpath, "job": None, "reason": FailureReason.parse(i.reason).value,
               "message": _plain(i.reason, i.relpath, i.error), "error": i.error,
               "retry_at": iso(i.retry_at), "holds": i.holds}
              for i in journal.held_inputs(limit=HELD_LISTED)]
    photos += [{"input": rel, "job": j.id, "style": j.slug,
                "reason": FailureReason.parse(j.reason).value,
                "message": _plain(j.reason, rel, j.error), "error": j.error,
                "retry_at": iso(j.retry_at), "holds": j.holds}
               for j, rel in journal.jobs_with_relpath(JobState.HELD.value,
                                                       limit=HELD_LISTED - len(photos))]
    by_reason: dict[str, int] = {}
    for reason, n in journal.held_reasons().items():
        key = FailureReason.parse(reason).value
        by_reason[key] = by_reason.get(key, 0) + n
    return {"total": sum(by_reason.values()), "by_reason": by_reason, "photos": photos}


RECENT_RENDERS = 20   # the queue's ETA is the mean of this many recent render times


def _queue(journal: JournalReader, counts: dict, running: list[dict]) -> dict:
    """How long the whole queue takes: queued renders at the mean of recent render times,
    plus what the running ones have left, spread over the render slots (filled in later)."""
    recent = journal.render_seconds(limit=RECENT_RENDERS)
    mean = sum(recent) / len(recent) if recent else None
    work = None
    if mean is not None:
        work = counts.get(JobState.QUEUED.value, 0) * mean + sum(
            r["eta_seconds"] if r["eta_seconds"] is not None else mean for r in running)
    queued = counts.get(JobState.QUEUED.value, 0)
    return {"jobs": queued + len(running), "queued": queued, "running": len(running),
            "work_seconds": work, "eta_seconds": None if work is None else round(work, 1),
            "from_renders": len(recent), "slots": 1}


def _journal(journal: JournalReader, now: float) -> dict:
    out: dict = {"counts": journal.counts(), "running": []}
    for j, rel in journal.jobs_with_relpath(JobState.RUNNING.value):
        elapsed, eta = _eta(j, now)
        out["running"].append({
            "job": j.id, "input": rel, "style": j.slug, "worker": j.worker,
            "device": j.device, "attempt": j.attempts, "progress": j.progress,
            "started": iso(j.started_at), "elapsed_seconds": elapsed, "eta_seconds": eta})
    out["queue"] = _queue(journal, out["counts"], out["running"])
    out["held"] = _held(journal)
    out["failures"] = [
        {"job": j.id, "input": rel, "style": j.slug,
         "reason": FailureReason.parse(j.reason).value, "error": j.error,
         "message": _plain(j.reason, rel, j.error),
         "time": iso(j.finished_at), "finished": j.finished_at}
        for j, rel in journal.jobs_with_relpath(JobState.FAILED.value, newest_first=True,
                                                limit=10)]
    out["refused"] = [
        {"input": i.relpath, "reason": FailureReason.parse(i.reason).value,
         "error": i.error, "time": iso(i.finished_at),
         "message": _plain(i.reason, i.relpath, i.error)}
        for i in journal.refused(limit=10)]
    out["notifications"] = _notifications(journal)
    return out


def _notifications(journal: JournalReader) -> dict:
    """The delivery log's counts, and the endpoints whose newest message was not taken
    (as the log shows them: format and scheme://host, never a secret)."""
    newest: dict = {}
    for d in journal.deliveries(limit=200):           # newest first
        newest.setdefault(d.endpoint, d)
    failing = [{"endpoint": e, "last_status": d.last_status, "time": iso(d.last_at)}
               for e, d in sorted(newest.items())
               if d.status == DeliveryStatus.FAILED.value]
    return {"counts": journal.delivery_counts(), "failing": failing}


def _manifest(config) -> dict:
    path = Path(config.manifest)
    error_file = path.with_name(path.name + ".error.json")
    out = {"path": str(path), "valid": True, "errors": [], "since": None}
    try:
        report = json.loads(error_file.read_text())
    except (OSError, ValueError):
        return out
    out.update(valid=False, errors=list(report.get("errors", []))[:20],
               since=report.get("time"), using=report.get("using"))
    return out


def _live(status_file: Path) -> dict | None:
    """What the daemon wrote about itself (status.json, each second), or None."""
    try:
        live = json.loads(status_file.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return live if isinstance(live, dict) else {}


def _taken_since(journal: JournalReader, relpaths: list[str], since: float) -> set[str]:
    """Of the photos the status file says wait in the inbox, those the journal shows
    taken after it was written: the journal's moment wins, and counts them once."""
    return {rel for rel in relpaths
            if any(i.received_at >= since for i in journal.history(rel))}


def collect(config) -> dict:
    layout = StateLayout(Path(config.state_dir))
    state, db_path = layout.root, layout.journal
    now = time.time()
    out: dict = {"schema": SCHEMA_VERSION, "time": iso(now), "state_dir": str(state),
                 "counts": {}, "running": [], "held": {"total": 0, "by_reason": {},
                                                       "photos": []},
                 "queue": {"jobs": 0, "queued": 0, "running": 0, "eta_seconds": None,
                           "from_renders": 0, "slots": 1},
                 "failures": [], "refused": [], "manifest": _manifest(config),
                 "daemon": None, "devices": [],
                 "notifications": {"counts": {}, "failing": []}}
    live = _live(layout.status_file)
    held_in_inbox = (live or {}).get("held_in_inbox") or []
    taken: set[str] = set()
    if db_path.exists():
        journal = open_reader(db_path)
        try:
            with journal.snapshot():   # one moment: counts, running, queue and held agree
                out.update(_journal(journal, now))
                taken = _taken_since(journal, held_in_inbox, (live or {}).get("time", 0))
        except JournalUnavailable as exc:  # created a moment ago, not yet set up
            out["journal_error"] = str(exc)
        except JournalDamaged as exc:      # damaged: the daemon rebuilds it at start
            out["journal_error"] = (f"{exc}; `deepart-batch repair-journal --config FILE` "
                                    f"rebuilds it")
        finally:
            journal.close()
    if live is not None:
        alive = _daemon_alive(live.get("pid"))
        out["daemon"] = {"pid": live.get("pid"), "mode": live.get("mode"), "alive": alive,
                         "state": ("draining" if live.get("stopping") else "running")
                         if alive else "stopped",
                         "updated_seconds_ago": round(now - live.get("time", 0), 1),
                         "waiting": (live.get("waiting") or []) if alive else []}
        if alive:
            out["devices"] = devices_at_snapshot(live.get("workers") or [], out["running"])
            why = live.get("held_in_inbox_reasons") or {}
            # no valid manifest, or the service may not take them; not those the journal
            # snapshot shows taken since the file was written (counted there, once). The
            # file names the first few and counts them all by reason.
            by_reason = live.get("held_in_inbox_by_reason")
            if not isinstance(by_reason, dict):   # a daemon that listed them all
                by_reason = dict(Counter(why.get(r, "manifest_invalid")
                                         for r in held_in_inbox))
            for rel in taken:
                reason = why.get(rel, "manifest_invalid")
                by_reason[reason] = max(0, by_reason.get(reason, 0) - 1)
            for reason, n in by_reason.items():
                if isinstance(n, int) and n > 0:
                    out["held"]["total"] += n
                    out["held"]["by_reason"][reason] = \
                        out["held"]["by_reason"].get(reason, 0) + n
            for rel in (r for r in held_in_inbox if r not in taken):
                reason = why.get(rel, "manifest_invalid")
                if len(out["held"]["photos"]) < 60:
                    out["held"]["photos"].append(
                        {"input": rel, "job": None, "reason": reason,
                         "message": _plain(reason, rel, "no valid manifest yet" if reason ==
                                           FailureReason.MANIFEST_INVALID else "no permission"),
                         "retry_at": None, "holds": 0})
            slots = len(out["devices"]) or 1
            queue = out["queue"]
            if slots > 1 and queue.get("work_seconds") is not None:
                queue.update(slots=slots, eta_seconds=round(queue["work_seconds"] / slots, 1))
    out["queue"].pop("work_seconds", None)
    if out["counts"] or out["held"]["total"]:   # one held count, the same everywhere
        out["counts"][JobState.HELD] = out["held"]["total"]
    return out


def devices_at_snapshot(slots: list[dict], running: list[dict]) -> list[dict]:
    """The daemon's slots (status file) doing what the journal snapshot says: a slot the
    snapshot has a job running on is busy with that job and its progress; a slot it has
    none on is not busy, whatever the slot said up to a second earlier (it is idle
    unless it said something else: starting, dead); a slot the file does not know yet
    but a running job names is listed too."""
    on = {r["worker"]: r for r in running if r.get("worker")}
    devices = []
    for slot in slots:
        slot = dict(slot)
        job = on.pop(slot.get("worker"), None)
        if job is not None:
            slot.update(state=SlotState.BUSY.value, job=job["job"], progress=job["progress"])
        else:
            if slot.get("state") == SlotState.BUSY.value:
                slot["state"] = SlotState.IDLE.value
            slot.update(job=None, progress=None)
        devices.append(slot)
    for worker, job in on.items():
        devices.append({"worker": worker, "device": job["device"], "node": None, "pid": None,
                        "state": SlotState.BUSY.value, "job": job["job"],
                        "progress": job["progress"], "memory_bytes": 0, "busy_seconds": 0.0})
    return devices


def render_text(info: dict) -> str:
    c = info["counts"]
    lines = [f"state: {info['state_dir']}",
             "jobs: " + (", ".join(f"{k} {v}" for k, v in c.items()) if c else "none yet")]
    if info.get("journal_error"):
        lines.append(f"journal: {info['journal_error']}")
    d = info["daemon"]
    if d and d["alive"]:
        lines.append(f"daemon: pid {d['pid']} ({d['mode']}) {d['state']}, updated "
                     f"{d['updated_seconds_ago']} s ago")
        lines += [f"  WAITING: {problem}" for problem in d.get("waiting", [])]
    else:
        lines.append("daemon: not running")
    m = info["manifest"]
    if not m["valid"]:
        lines.append(f"manifest: NOT VALID since {m['since']} ({m.get('using')}):")
        lines += [f"  {e}" for e in m["errors"][:5]]
    if info["devices"]:
        lines.append("devices:")
        for w in info["devices"]:
            p = w.get("progress") or {}
            busy = f"busy: job {w['job']} step {p.get('step', 0)}/{p.get('total', '?')}" \
                if w["state"] == "busy" else w["state"]
            node = f" on {w['node']}" if w.get("node") else ""
            lines.append(f"  {w['worker']:<12} {busy}{node}")
    if info["running"]:
        lines.append("running:")
        for r in info["running"]:
            p = r["progress"] or {}
            eta = f", about {human_duration(r['eta_seconds'])} left" \
                if r["eta_seconds"] is not None else ""
            elapsed = human_duration(r["elapsed_seconds"]) \
                if r["elapsed_seconds"] is not None else "?"
            lines.append(f"  job {r['job']}: {r['input']} [{r['style']}] on {r['worker']} "
                         f"step {p.get('step', 0)}/{p.get('total', '?')} (attempt "
                         f"{r['attempt']}), {elapsed} so far{eta}")
    q = info.get("queue") or {}
    if q.get("jobs"):
        eta = (f", about {human_duration(q['eta_seconds'])} left (from the last "
               f"{q['from_renders']} render(s), {q['slots']} slot(s))"
               if q.get("eta_seconds") is not None else ", no render time known yet")
        lines.append(f"queue: {q['queued']} queued + {q['running']} running{eta}")
    held = info["held"]
    if held["total"]:
        lines.append(f"held: {held['total']} (" + ", ".join(
            f"{k} {v}" for k, v in sorted(held["by_reason"].items())) + ")")
        for h in held["photos"][:10]:
            job = f"job {h['job']}: " if h["job"] else ""
            lines.append(f"  {job}{h['input']}: {h['message']}")
    if info["failures"]:
        lines.append("last failures:")
        for f in info["failures"]:
            lines.append(f"  {f['time']} job {f['job']}: {f['input']} [{f['style']}] "
                         f"{f['reason']}: {f['error']}")
    n = info.get("notifications") or {}
    if any((n.get("counts") or {}).values()):
        failing = "; ".join(f"{f['endpoint']} ({f['last_status']})"
                            for f in n.get("failing") or [])
        lines.append("notifications: " + ", ".join(
            f"{v} {k}" for k, v in n["counts"].items()) +
            (f"; FAILING: {failing}" if failing else ""))
    if info.get("refused"):
        lines.append("refused files:")
        for f in info["refused"]:
            lines.append(f"  {f['time']} {f['reason']}: {f['error']}")
    return "\n".join(lines)

