"""`deepart-batch retry`: put failed photos back, re-render done ones, wake held ones.

A failed photo goes back into the inbox under its own name (moved from failed/), so the
running daemon, or the next `run --once`, takes it like any new drop; its failure becomes
history (`retried`), and its problem note and outbox `.error.json` go. `--force` copies a
done photo back and marks its renders to be made again: the new ones are written next to
the old ones (photo.style.2.jpg, ...), never over them. Held photos are tried at once.

Safe while `watch` runs (SQLite serialises the writes; the daemon never touches failed
rows), and imports no torch. Each photo's file moves inside the journal write it belongs
to, after the write: a journal another program holds (JournalBusy) moves nothing, and a
move that fails undoes the write.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from ...core.states import InputState, JobState
from ...core.layout import StateLayout
from ...core.timefmt import parse_duration
from ...errors import DeepartError
from ..outcomes import archive
from ..sources import claim
from ...journal import Input, Journal, NotInJournal
from ..receivers.team import TeamDesk

# `--since 30m` has always meant minutes ago here (a month ago is written 1mo or 30d)
_MINUTES = re.compile(r"\s*(\d+(?:\.\d+)?)\s*m\s*", re.IGNORECASE)


@dataclass
class RetryRequest:
    job_id: int | None = None
    photo: str | None = None
    all_failed: bool = False
    since: float | None = None
    force: bool = False


def parse_since(text: str, now: float | None = None) -> float:
    """'2h', '30m', '1d' ago, or an ISO date/time (UTC unless it says otherwise)."""
    now = time.time() if now is None else now
    m = _MINUTES.fullmatch(text)
    if m:
        return now - float(m.group(1)) * 60
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise DeepartError(f"--since {text!r}: use a time like 2026-11-27T09:00, a date like "
                           f"2026-11-27, or an age like 30m, 2h, 1d") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def _matches(inp: Input, pattern: str) -> bool:
    return pattern in (inp.relpath, PurePosixPath(inp.relpath).name) or \
        fnmatch.fnmatchcase(inp.relpath, pattern)


def _latest_per_photo(inputs: list[Input]) -> list[Input]:
    latest: dict[str, Input] = {}
    for inp in inputs:
        if inp.relpath not in latest or inp.id > latest[inp.relpath].id:
            latest[inp.relpath] = inp
    return sorted(latest.values(), key=lambda i: i.id)


def select(journal: Journal, req: RetryRequest) -> tuple[list[Input], list[Input], list[Input]]:
    """(failed inputs to retry, done inputs to re-render, held inputs to wake)."""
    states = ("failed", "held", "claimed") + (("done",) if req.force else ())
    if req.job_id is not None:
        try:
            chosen = [journal.input(journal.job(req.job_id).input_id)]
        except NotInJournal:
            raise DeepartError(f"there is no job {req.job_id}; see deepart-batch status") from None
    else:
        chosen = journal.inputs_in(*states)
        if req.photo is not None:
            chosen = [i for i in chosen if _matches(i, req.photo)]
        if req.since is not None:
            chosen = [i for i in chosen if (i.finished_at or i.received_at) >= req.since]
        if not (req.photo or req.all_failed or req.since is not None):
            raise DeepartError("say what to retry: a JOB_ID, --photo NAME, --all-failed or "
                               "--since TIME")
    chosen = _latest_per_photo(chosen)
    failed = [i for i in chosen if i.state == InputState.FAILED]
    named = req.job_id is not None or req.photo is not None or req.since is not None
    done = [i for i in chosen if i.state == InputState.DONE and req.force and named]
    held = [i for i in chosen if i.state == InputState.HELD or (
        i.state == InputState.CLAIMED and any(
            j.state == JobState.HELD for j in journal.jobs_for_input(i.id)))]
    return failed, done, held


def _back_to_inbox(inbox: Path, inp: Input, source: Path, copy: bool) -> Path:
    rel = PurePosixPath(inp.relpath)
    target = archive.free_name(inbox / rel.parent, rel.name, f"retry{inp.id}")
    target.parent.mkdir(parents=True, exist_ok=True)
    if copy:  # done/ keeps its record; the copy lands under a dot name, then appears whole
        part = target.with_name(f".{target.name}.part")
        shutil.copy2(source, part)
        part.replace(target)
    else:
        claim.move_file(source, target)
    return target


def retry(config, req: RetryRequest, journal: Journal | None = None) -> list[str]:
    """Do it; returns one line per photo for the person who asked. `journal`: an open one
    to use (and leave open), else the state_dir's is opened and closed here."""
    own = journal is None
    journal = Journal(StateLayout(Path(config.state_dir)).journal,
                      busy_budget=config.journal_busy_seconds) if own else journal
    desk = TeamDesk(config)
    inbox = Path(config.inbox)
    lines = []
    try:
        failed, done, held = select(journal, req)
        if req.job_id is not None and not (failed or done or held):
            job = journal.job(req.job_id)
            hint = " (add --force to render it again)" if job.state == JobState.DONE else ""
            lines.append(f"job {req.job_id} is {job.state}: nothing to retry{hint}")
        for inp in failed:
            source = Path(inp.archived_to or "")
            if not inp.archived_to or not source.exists():
                lines.append(f"{inp.relpath}: its file is no longer in failed/; drop the "
                             f"photo into the inbox again")
                continue
            with journal.transaction():     # the write first; a failed move undoes it
                journal.retire_failed(inp.id)
                target = _back_to_inbox(inbox, inp, source, copy=False)
            Path(str(source) + archive.ERROR_SUFFIX).unlink(missing_ok=True)
            desk.retried(inp.relpath)
            lines.append(f"{inp.relpath}: back in the inbox as "
                         f"{target.relative_to(inbox).as_posix()} (was failed: {inp.reason})")
        for inp in done:
            source = Path(inp.archived_to or "")
            if not inp.archived_to or not source.exists():
                lines.append(f"{inp.relpath}: its file is no longer in done/; drop it again")
                continue
            jobs = [j for j in journal.jobs_for_input(inp.id) if j.state == JobState.DONE and
                    (req.job_id is None or j.id == req.job_id)]
            with journal.transaction():
                for job in jobs:
                    journal.force(job.job_key)
                target = _back_to_inbox(inbox, inp, source, copy=True)
            lines.append(f"{inp.relpath}: rendered again ({len(jobs)} output(s), written next "
                         f"to the old ones) from the inbox as "
                         f"{target.relative_to(inbox).as_posix()}")
        if held:
            journal.release_holds()
            lines += [f"{inp.relpath}: held; tried again now" for inp in held]
    finally:
        if own:
            journal.close()
    return lines

