"""Which photo a log record is about: job id, campaign and the user's photo name.

The service collaborators' methods that handle one input or one job (they have a
`journal`; `take` also a `watcher`) are wrapped by these decorators, so
every record logged inside them - the service's own, the planner's, the outbox's - carries
`photo` (its path in the inbox, as the team named it), `campaign` and, for a job, `job` in
its `extra` (the JSON log), and the text line names them too (ops.logsetup adds them when
the message does not already). Internal work names never reach people: `for_people`
rewrites them to the photo's name.
"""

from __future__ import annotations

import functools
from pathlib import Path

from loguru import logger


def _input_context(journal, input_id: int | None) -> dict:
    if input_id is None:
        return {}
    try:
        inp = journal.input(input_id)
    except Exception:        # a row that is gone: log without context rather than fail
        return {}
    return {"photo": inp.relpath, "campaign": inp.campaign}


def _job_context(journal, job_id: int | None) -> dict:
    if job_id is None:
        return {}
    try:
        job = journal.job(job_id)
    except Exception:
        return {"job": job_id}
    return {**_input_context(journal, job.input_id), "job": job_id}


def about_input(method):
    """For `method(self, input_id, ...)` or `method(self, inp, ...)`."""
    @functools.wraps(method)
    def wrapper(self, first, *args, **kwargs):
        context = ({"photo": first.relpath, "campaign": first.campaign}
                   if hasattr(first, "relpath") else _input_context(self.journal, first))
        with logger.contextualize(**context):
            return method(self, first, *args, **kwargs)
    return wrapper


def about_event(method):
    """For `handle(self, event)`: the event's job."""
    @functools.wraps(method)
    def wrapper(self, event, *args, **kwargs):
        with logger.contextualize(**_job_context(self.journal, event.job_id)):
            return method(self, event, *args, **kwargs)
    return wrapper


def about_path(method):
    """For `take(self, path)`: a file in the inbox, before it has a journal row."""
    @functools.wraps(method)
    def wrapper(self, path, *args, **kwargs):
        try:
            rel = self.watcher.relpath(path)
        except ValueError:
            rel = str(path)
        with logger.contextualize(photo=rel, campaign=rel.split("/")[0] if "/" in rel else ""):
            return method(self, path, *args, **kwargs)
    return wrapper


def for_job(journal, job) -> "logger":
    """A logger bound to one job (for code that loops over several)."""
    return logger.bind(**_job_context(journal, job.id))


def for_people(text: str | None, work_path: str | None, photo: str) -> str | None:
    """`text` with the internal work file's path and name replaced by the photo's name."""
    if not text or not work_path:
        return text
    return text.replace(work_path, photo).replace(Path(work_path).name, Path(photo).name)
