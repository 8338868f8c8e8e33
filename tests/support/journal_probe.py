"""What tests read back from a daemon's journal: through the journal's read API only."""

from __future__ import annotations

from pathlib import Path

from deepart_batch.core.layout import JOURNAL_FILE
from deepart_batch.journal import open_reader


class JournalProbe:
    """Opens the journal read-only for each question, so it never holds a lock or a stale
    snapshot while a daemon writes. `where`: a box (with .state), a state dir or the file."""

    def __init__(self, where):
        path = Path(getattr(where, "state", where))
        self.path = path if path.suffix == ".sqlite" else path / JOURNAL_FILE

    def exists(self) -> bool:
        return self.path.exists()

    def _read(self, ask):
        reader = open_reader(self.path)
        try:
            return ask(reader)
        finally:
            reader.close()

    def inputs(self, *fields: str) -> list[tuple]:
        """Every input row, oldest first, as tuples of `fields` (e.g. "relpath", "state")."""
        return self._read(lambda r: [tuple(getattr(i, f) for f in fields)
                                     for i in sorted(r.inputs_except(), key=lambda i: i.id)])

    def jobs(self, *fields: str) -> list[tuple]:
        """Every job, oldest first, as tuples of `fields` (e.g. "state", "attempts")."""
        return self._read(lambda r: [tuple(getattr(j, f) for f in fields)
                                     for j in r.all_jobs()])

    def job_states(self) -> list[str]:
        return sorted(s for (s,) in self.jobs("state"))

    def jobs_by_photo(self) -> dict[str, dict]:
        """relpath -> {id, state, reason, error, duplicate_of, relpath} of its (last) job."""
        def ask(r):
            paths = {i.id: i.relpath for i in r.inputs_except()}
            return {paths[j.input_id]: {"id": j.id, "state": j.state, "reason": j.reason,
                                        "error": j.error, "duplicate_of": j.duplicate_of,
                                        "relpath": paths[j.input_id]}
                    for j in r.all_jobs()}
        return self._read(ask)

    def photo_states(self) -> dict[str, str]:
        return {rel: state for rel, state in self.inputs("relpath", "state")}

    def counts(self) -> dict[str, int]:
        return self._read(lambda r: r.counts())

    def running_job_of(self, relpath: str) -> int | None:
        """The id of the running job of the photo at `relpath`; None when none runs (or the
        daemon has not made its journal yet)."""
        if not self.exists():
            return None
        try:
            return next((j["id"] for j in [self.jobs_by_photo().get(relpath) or {}]
                         if j.get("state") == "running"), None)
        except Exception:     # tables not created yet
            return None
