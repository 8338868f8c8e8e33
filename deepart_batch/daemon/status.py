"""`status`: what the journal and the running daemon say, for people and for scripts.

`status --json` is a stable interface (README, "status --json"): keys are only added, and
`schema` changes if one ever has to change meaning. Times are ISO 8601 UTC strings.
Reads the journal read-only and imports no torch, so it is quick while renders run.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from ..core.states import FailureReason, JobState, message

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


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds") if ts else None


def _plain(reason, relpath: str, detail: str | None) -> str:
    return message(reason, PurePosixPath(relpath).name, detail or "")[0]


def _eta(row, now: float) -> tuple[float | None, float | None]:
    """Elapsed seconds and an estimate of those left, from steps done and their rate."""
    if not row["started_at"]:
        return None, None
    elapsed = max(0.0, now - row["started_at"])
    progress = json.loads(row["progress"]) if row["progress"] else {}
    step, total = progress.get("step") or 0, progress.get("total") or 0
    eta = (total - step) * elapsed / step if step > 0 and total >= step else None
    return round(elapsed, 1), None if eta is None else round(eta, 1)


def _held(db) -> dict:
    photos = [{"input": r["relpath"], "job": None, "reason": FailureReason.parse(r["reason"]).value,
               "message": _plain(r["reason"], r["relpath"], r["error"]), "error": r["error"],
               "retry_at": _iso(r["retry_at"]), "holds": r["holds"]}
              for r in db.execute("SELECT * FROM inputs WHERE state='held' ORDER BY id")]
    photos += [{"input": r["relpath"], "job": r["id"], "style": r["slug"],
                "reason": FailureReason.parse(r["reason"]).value,
                "message": _plain(r["reason"], r["relpath"], r["error"]), "error": r["error"],
                "retry_at": _iso(r["retry_at"]), "holds": r["holds"]}
               for r in db.execute("SELECT j.*, i.relpath FROM jobs j JOIN inputs i ON "
                                   "i.id=j.input_id WHERE j.state='held' ORDER BY j.id")]
    by_reason: dict[str, int] = {}
    for p in photos:
        by_reason[p["reason"]] = by_reason.get(p["reason"], 0) + 1
    return {"total": len(photos), "by_reason": by_reason, "photos": photos[:50]}


def _journal(db, now: float) -> dict:
    out: dict = {"counts": dict.fromkeys((s.value for s in JobState), 0)}
    out["counts"].update(dict(db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state")))
    out["running"] = []
    for r in db.execute("SELECT j.*, i.relpath FROM jobs j JOIN inputs i ON i.id=j.input_id "
                        "WHERE j.state='running' ORDER BY j.id"):
        elapsed, eta = _eta(r, now)
        out["running"].append({
            "job": r["id"], "input": r["relpath"], "style": r["slug"], "worker": r["worker"],
            "device": r["device"], "attempt": r["attempts"],
            "progress": json.loads(r["progress"]) if r["progress"] else None,
            "started": _iso(r["started_at"]), "elapsed_seconds": elapsed, "eta_seconds": eta})
    columns = {r[1] for r in db.execute("PRAGMA table_info(inputs)")}
    out["held"] = _held(db) if "holds" in columns else {"total": 0, "by_reason": {},
                                                         "photos": []}  # not yet migrated
    out["failures"] = [
        {"job": r["id"], "input": r["relpath"], "style": r["slug"],
         "reason": FailureReason.parse(r["reason"]).value, "error": r["error"],
         "message": _plain(r["reason"], r["relpath"], r["error"]),
         "time": _iso(r["finished_at"]), "finished": r["finished_at"]}
        for r in db.execute("SELECT j.*, i.relpath FROM jobs j JOIN inputs i ON "
                            "i.id=j.input_id WHERE j.state='failed' "
                            "ORDER BY j.finished_at DESC LIMIT 10")]
    old = "reason" not in columns   # a journal not yet migrated by a newer daemon
    out["refused"] = [
        {"input": r["relpath"], "reason": FailureReason.parse(None if old else r["reason"]).value,
         "error": r["error"], "time": _iso(r["finished_at"]),
         "message": _plain(None if old else r["reason"], r["relpath"], r["error"])}
        for r in db.execute("SELECT * FROM inputs WHERE state='failed' AND "
                            "id NOT IN (SELECT input_id FROM jobs) "
                            "ORDER BY finished_at DESC LIMIT 10")]
    return out


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


def collect(config) -> dict:
    state = Path(config.state_dir)
    db_path = state / "journal.sqlite"
    now = time.time()
    out: dict = {"schema": SCHEMA_VERSION, "time": _iso(now), "state_dir": str(state),
                 "counts": {}, "running": [], "held": {"total": 0, "by_reason": {},
                                                       "photos": []},
                 "failures": [], "refused": [], "manifest": _manifest(config),
                 "daemon": None, "devices": []}
    if db_path.exists():
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
        db.row_factory = sqlite3.Row
        try:
            out.update(_journal(db, now))
        except sqlite3.OperationalError as exc:  # created a moment ago, not yet set up
            out["journal_error"] = f"{db_path}: {exc} (a daemon may be creating it)"
        except sqlite3.DatabaseError as exc:     # damaged: the daemon rebuilds it at start
            out["journal_error"] = (f"{db_path}: {exc}; `deepart-batch repair-journal "
                                    f"--config FILE` rebuilds it")
        finally:
            db.close()
    status_file = state / "status.json"
    if status_file.exists():
        try:
            live = json.loads(status_file.read_text())
        except ValueError:
            live = {}
        alive = _daemon_alive(live.get("pid"))
        out["daemon"] = {"pid": live.get("pid"), "mode": live.get("mode"), "alive": alive,
                         "state": ("draining" if live.get("stopping") else "running")
                         if alive else "stopped",
                         "updated_seconds_ago": round(now - live.get("time", 0), 1),
                         "waiting": (live.get("waiting") or []) if alive else []}
        if alive:
            out["devices"] = live.get("workers", [])
            waiting = live.get("held_in_inbox") or []
            if waiting:  # no valid manifest at all: photos wait in the inbox
                out["held"]["total"] += len(waiting)
                out["held"]["by_reason"]["manifest_invalid"] = \
                    out["held"]["by_reason"].get("manifest_invalid", 0) + len(waiting)
                out["held"]["photos"] += [
                    {"input": rel, "job": None, "reason": "manifest_invalid",
                     "message": _plain("manifest_invalid", rel, "no valid manifest yet"),
                     "retry_at": None, "holds": 0} for rel in waiting[:50]]
    return out


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
            eta = f", about {_duration(r['eta_seconds'])} left" if r["eta_seconds"] is not None \
                else ""
            elapsed = _duration(r["elapsed_seconds"]) if r["elapsed_seconds"] is not None else "?"
            lines.append(f"  job {r['job']}: {r['input']} [{r['style']}] on {r['worker']} "
                         f"step {p.get('step', 0)}/{p.get('total', '?')} (attempt "
                         f"{r['attempt']}), {elapsed} so far{eta}")
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
    if info.get("refused"):
        lines.append("refused files:")
        for f in info["refused"]:
            lines.append(f"  {f['time']} {f['reason']}: {f['error']}")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"
