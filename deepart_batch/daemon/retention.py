"""Retention: remove archived originals and journal rows of inputs finished long ago.

done/ keeps every original photo (up to limits.max_file_bytes each) and the journal keeps
every row, so a busy box fills its disk. `prune` removes, for each input that finished
(done or failed) before the cutoff, its archived file (and failed/'s .error.json next to
it) and its journal rows. Anything not finished - claiming, claimed, files in work/, queued
or running jobs - is never touched, and nothing outside state_dir/done and state_dir/failed
is ever deleted. The outbox belongs to the team and is never pruned.

Run by `deepart-batch prune --older-than 30d`, or by the daemon every
retention.interval_seconds when `retention.older_than` is set.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger

from .journal import Journal

BATCH = 500        # inputs per transaction: the daemon's loop is not held up for long
FINISHED = ("done", "failed")


@dataclass
class PruneResult:
    inputs: int = 0             # journal input rows removed
    jobs: int = 0               # journal job rows removed
    files: int = 0              # archived originals (and error sidecars) removed
    bytes: int = 0
    skipped: list[str] = field(default_factory=list)   # archived paths not removed, and why

    def describe(self, older_than: float) -> str:
        return (f"pruned inputs finished more than {_days(older_than)} ago: {self.files} "
                f"archived file(s) ({self.bytes / 1e6:.1f} MB) and {self.inputs} input / "
                f"{self.jobs} job row(s) from the journal")


def _days(seconds: float) -> str:
    return f"{seconds / 86400:g} days" if seconds >= 86400 else f"{seconds / 3600:g} hours"


def prune(journal: Journal, state_dir: Path, older_than: float, now: float | None = None,
          dry_run: bool = False) -> PruneResult:
    """Remove what finished before now - older_than; see the module docstring."""
    cutoff = (time.time() if now is None else now) - older_than
    roots = [Path(os.path.realpath(state_dir / d)) for d in FINISHED]
    result = PruneResult()
    db = journal.db
    last_id = 0
    while True:
        rows = db.execute(
            "SELECT id, archived_to FROM inputs WHERE state IN ('done', 'failed') AND "
            "finished_at IS NOT NULL AND finished_at < ? AND id > ? ORDER BY id LIMIT ?",
            (cutoff, last_id, BATCH)).fetchall()
        if not rows:
            break
        last_id = rows[-1]["id"]
        ids = [r["id"] for r in rows if not _referenced(db, r["id"])]
        for r in rows:
            if r["id"] in ids and r["archived_to"]:
                _remove_archived(Path(r["archived_to"]), roots, result, dry_run)
        if ids and not dry_run:
            marks = ",".join("?" * len(ids))
            db.execute("BEGIN IMMEDIATE")
            try:
                job_ids = f"SELECT id FROM jobs WHERE input_id IN ({marks})"
                db.execute(f"UPDATE jobs SET duplicate_of=NULL WHERE duplicate_of IN ({job_ids})"
                           f" AND state IN ('done', 'failed')", ids)
                result.jobs += db.execute(f"DELETE FROM jobs WHERE input_id IN ({marks})",
                                          ids).rowcount
                result.inputs += db.execute(f"DELETE FROM inputs WHERE id IN ({marks})",
                                            ids).rowcount
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        elif dry_run:
            result.inputs += len(ids)
    for root in roots:
        if not dry_run:
            _remove_empty_folders(root)
    return result


def prune_state_dir(state_dir: Path, older_than: float, dry_run: bool = False) -> PruneResult:
    """`prune` on a state_dir's journal (none yet: nothing to do), from another process than
    the daemon's: SQLite's locking lets both write."""
    db = state_dir / "journal.sqlite"
    if not db.exists():
        return PruneResult()
    journal = Journal(db)
    try:
        return prune(journal, state_dir, older_than, dry_run=dry_run)
    finally:
        journal.close()


def _referenced(db, input_id: int) -> bool:
    """A waiting or queued duplicate still points at one of this input's jobs: keep it."""
    return db.execute("SELECT 1 FROM jobs d JOIN jobs j ON d.duplicate_of = j.id WHERE "
                      "j.input_id = ? AND d.state NOT IN ('done', 'failed') LIMIT 1",
                      (input_id,)).fetchone() is not None


def _remove_archived(path: Path, roots: list[Path], result: PruneResult, dry_run: bool) -> None:
    real = Path(os.path.realpath(path))
    if not any(root in real.parents for root in roots):
        result.skipped.append(f"{path}: outside {' and '.join(map(str, roots))}; left alone")
        return
    for target in (real, real.with_name(real.name + ".error.json")):
        try:
            size = target.stat().st_size
            if not dry_run:
                target.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            result.skipped.append(f"{target}: cannot remove: {exc.strerror or exc}")
            continue
        result.files += target == real
        result.bytes += size


def _remove_empty_folders(root: Path) -> None:
    for folder, dirs, files in os.walk(root, topdown=False):
        if Path(folder) != root and not dirs and not files:
            try:
                os.rmdir(folder)
            except OSError:
                pass            # something arrived meanwhile, or not ours to remove


class RetentionTimer:
    """The daemon's side: prune every retention.interval_seconds when older_than is set."""

    def __init__(self, config, journal: Journal):
        self.config, self.journal = config, journal
        self._next = time.monotonic()           # once at start-up, then every interval

    def tick(self) -> None:
        ret = self.config.retention
        if ret.older_than is None or time.monotonic() < self._next:
            return
        self._next = time.monotonic() + ret.interval_seconds
        try:
            result = prune(self.journal, Path(self.config.state_dir), ret.older_than)
        except Exception as exc:     # retention must never stop the daemon
            logger.opt(exception=exc).error("retention: prune failed: {}", exc)
            return
        if result.inputs or result.files:
            logger.info("retention: {}", result.describe(ret.older_than))
        for line in result.skipped[:10]:
            logger.warning("retention: {}", line)
