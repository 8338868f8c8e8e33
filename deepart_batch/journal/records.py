"""What a journal row is once read: an Input (a photo) or a Job (one render of it), and
the errors the journal raises."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Mapping

from ..core.jobspec import JobSpec
from ..core.states import InputState, JobState
from ..errors import DeepartError, ParamsError


class JournalDamaged(RuntimeError):
    """The journal file is not a readable SQLite database (truncated, overwritten)."""


class JournalUnavailable(RuntimeError):
    """A read-only reader could not read the journal now (being created, or locked)."""


class NotInJournal(LookupError, TypeError):
    """No row with that id (a TypeError too, as `journal.job(id)` raised before)."""


class JournalBusy(DeepartError):
    """Another program held the journal for longer than the write's retry budget."""

    def __init__(self, path, waited: float):
        super().__init__(f"the journal is busy (another program holds it); try again "
                         f"({path}, waited {waited:.0f} s)")
        self.path, self.waited = path, waited


@dataclass
class Job:
    id: int
    input_id: int
    job_key: str
    campaign: str
    priority: int
    slug: str
    state: JobState
    attempts: int
    spec: JobSpec | None              # None only for a row written without one
    output_path: str
    report_path: str
    worker: str | None
    device: str | None
    progress: dict | None
    reason: str | None
    error: str | None
    render_seconds: float | None
    created_at: float
    queued_at: float
    started_at: float | None
    finished_at: float | None
    duplicate_of: int | None = None
    retry_at: float | None = None
    holds: int = 0
    interruptions: int = 0    # daemon stops during its render (attempts given back)
    need_bytes: int | None = None     # estimated device memory (dispatch chooses by it)
    spec_problem: str | None = None   # why a stored spec did not decode (spec is None then)

    @classmethod
    def from_row(cls, row: Mapping) -> "Job":
        """A row whose stored spec does not decode (written by another version, or edited)
        still reads, with spec None and the reason: that one job is refused, never every
        read of the journal."""
        d = dict(row)
        try:
            d["spec"] = JobSpec.from_dict(json.loads(d["spec"])) if d["spec"] else None
        except (ValueError, TypeError, KeyError, AttributeError, ParamsError) as exc:
            d["spec"], d["spec_problem"] = None, f"{type(exc).__name__}: {exc}"
        d["progress"] = json.loads(d["progress"]) if d["progress"] else None
        d["state"] = JobState(d["state"])
        return cls(**d)


@dataclass
class Input:
    id: int
    relpath: str
    campaign: str
    sha256: str | None
    work_path: str
    state: InputState
    archived_to: str | None
    error: str | None
    received_at: float
    finished_at: float | None
    reason: str | None = None
    retry_at: float | None = None
    holds: int = 0
    changed: int = 0          # moves on every write to it or its jobs (the gallery's delta)

    @classmethod
    def from_row(cls, row: Mapping) -> "Input":
        d = dict(row)
        d["state"] = InputState(d["state"])
        return cls(**d)


@dataclass
class Delivery:
    """One notification message to one endpoint, as the delivery log keeps it. `endpoint`
    is the shown form (format and scheme://host), never a secret or a URL's path."""
    message_id: str           # the webhook-id: the same for every try and resend
    event: str                # the event kind (core.states.DaemonEvent), or "batch"
    summary: str              # one short line: what it was about
    endpoint: str
    attempts: int
    status: str               # core.states.DeliveryStatus
    last_status: str          # the last answer: "HTTP 204", "connection refused", ...
    first_at: float
    last_at: float

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> "Delivery":
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown delivery field(s): {', '.join(unknown)}")
        return cls(**{k: data[k] for k in names})
