"""Retention: remove archived originals and journal rows of inputs finished long ago.

done/ keeps every original photo (up to limits.max_file_bytes each) and the journal keeps
every row, so a busy box fills its disk. `prune` removes, for each input that finished
(done or failed) before the cutoff, its archived file (and failed/'s .error.json next to
it) and its journal rows. Anything not finished - claiming, claimed, files in work/, queued
or running jobs - is never touched, and nothing outside state_dir/done and state_dir/failed
is ever deleted. A copy in done/ that a newer input shares (the same name and bytes, taken
again) stays until the last input using it is pruned. The outbox belongs to the team and
is never pruned.

Run by `deepart-batch prune --older-than 30d`, or by the daemon every
retention.interval_seconds when `retention.older_than` is set.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger

from ...core.layout import StateLayout
from ...journal import Journal

BATCH = 500        # inputs per transaction: the daemon's loop is not held up for long


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
    layout = StateLayout(Path(state_dir))
    roots = [Path(os.path.realpath(folder)) for folder in (layout.done, layout.failed)]
    result = PruneResult()
    last_id = 0
    pruned: set[int] = set()   # a copy in done/ shared with a kept input stays (archive.py)
    while True:
        batch = journal.finished_before(cutoff, after_id=last_id, limit=BATCH)
        if not batch:
            break
        last_id = batch[-1].id
        keep = [i for i in batch if not journal.needed_by_duplicate(i.id)]
        ids = [i.id for i in keep]
        if dry_run:
            result.inputs += len(ids)
        else:   # the rows go first: a file removed after a failed write is not lost track of
            inputs, jobs = journal.delete_inputs(ids)
            result.inputs += inputs
            result.jobs += jobs
        pruned.update(ids)
        for inp in keep:
            if inp.archived_to and not journal.archive_users(inp.archived_to) - pruned:
                _remove_archived(Path(inp.archived_to), roots, result, dry_run)
    for root in roots:
        if not dry_run:
            _remove_empty_folders(root)
    return result


def prune_state_dir(state_dir: Path, older_than: float, dry_run: bool = False,
                    busy_budget: float | None = None) -> PruneResult:
    """`prune` on a state_dir's journal (none yet: nothing to do), from another process than
    the daemon's: SQLite's locking lets both write."""
    path = StateLayout(state_dir).journal
    if not path.exists():
        return PruneResult()
    journal = Journal(path) if busy_budget is None else Journal(path, busy_budget=busy_budget)
    try:
        return prune(journal, state_dir, older_than, dry_run=dry_run)
    finally:
        journal.close()


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
