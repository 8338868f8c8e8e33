"""`status`: what the journal and the running daemon say, for people and for scripts."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

from ..settings.config import Config
from .journal import JOB_STATES


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


def collect(config: Config) -> dict:
    state = Path(config.state_dir)
    db_path = state / "journal.sqlite"
    out: dict = {"state_dir": str(state), "counts": {}, "running": [], "failures": [],
                 "daemon": None, "devices": []}
    if db_path.exists():
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        db.row_factory = sqlite3.Row
        try:
            out["counts"] = dict.fromkeys(JOB_STATES, 0)
            out["counts"].update(dict(db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state")))
            out["running"] = [
                {"job": r["id"], "input": r["relpath"], "style": r["slug"], "worker": r["worker"],
                 "device": r["device"], "attempt": r["attempts"],
                 "progress": json.loads(r["progress"]) if r["progress"] else None}
                for r in db.execute("SELECT j.*, i.relpath FROM jobs j JOIN inputs i ON "
                                    "i.id=j.input_id WHERE j.state='running' ORDER BY j.id")]
            out["failures"] = [
                {"job": r["id"], "input": r["relpath"], "style": r["slug"], "reason": r["reason"],
                 "error": r["error"], "finished": r["finished_at"]}
                for r in db.execute("SELECT j.*, i.relpath FROM jobs j JOIN inputs i ON "
                                    "i.id=j.input_id WHERE j.state='failed' "
                                    "ORDER BY j.finished_at DESC LIMIT 10")]
            columns = {r[1] for r in db.execute("PRAGMA table_info(jobs)")}
            out["held"] = [
                {"job": r["id"], "input": r["relpath"], "style": r["slug"], "reason": r["reason"],
                 "error": r["error"], "retry_in_seconds": round(max(0.0, r["retry_at"] - time.time()), 1)}
                for r in db.execute("SELECT j.*, i.relpath FROM jobs j JOIN inputs i ON "
                                    "i.id=j.input_id WHERE j.state='queued' AND "
                                    "j.retry_at IS NOT NULL ORDER BY j.retry_at")
            ] if "retry_at" in columns else []
            out["refused"] = [
                {"input": r["relpath"], "error": r["error"]}
                for r in db.execute("SELECT relpath, error FROM inputs WHERE state='failed' AND "
                                    "id NOT IN (SELECT input_id FROM jobs) "
                                    "ORDER BY finished_at DESC LIMIT 10")]
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
                         "updated_seconds_ago": round(time.time() - live.get("time", 0), 1),
                         "waiting": live.get("waiting") or [] if alive else []}
        if alive:
            out["devices"] = live.get("workers", [])
    return out


def render_text(info: dict) -> str:
    c = info["counts"]
    lines = [f"state: {info['state_dir']}",
             "jobs: " + (", ".join(f"{k} {v}" for k, v in c.items()) if c else "none yet")]
    d = info["daemon"]
    if d and d["alive"]:
        lines.append(f"daemon: pid {d['pid']} ({d['mode']}), updated {d['updated_seconds_ago']} s ago")
        lines += [f"  WAITING: {problem}" for problem in d.get("waiting", [])]
    else:
        lines.append("daemon: not running")
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
            lines.append(f"  job {r['job']}: {r['input']} [{r['style']}] on {r['worker']} "
                         f"step {p.get('step', 0)}/{p.get('total', '?')} (attempt {r['attempt']})")
    if info["failures"]:
        lines.append("last failures:")
        for f in info["failures"]:
            lines.append(f"  job {f['job']}: {f['input']} [{f['style']}] {f['reason']}: {f['error']}")
    if info.get("held"):
        lines.append("held (not the photos' fault; retried by themselves):")
        for h in info["held"]:
            lines.append(f"  job {h['job']}: {h['input']} [{h['style']}] {h['reason']}: "
                         f"{h['error']} (next try in {h['retry_in_seconds']} s)")
    if info.get("refused"):
        lines.append("refused files:")
        for f in info["refused"]:
            lines.append(f"  {f['error']}")
    return "\n".join(lines)
