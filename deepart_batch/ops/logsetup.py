"""One place that decides where log lines go: terminal, journald, JSON file.

Under systemd (stderr is the unit's journal stream) each record is sent to journald as an
entry with fields (ops/journald.py: PRIORITY from the level, PHOTO, CAMPAIGN, JOB, REASON),
so ``journalctl -u deepart-batch PHOTO=city/x.jpg`` finds one photo's lines and
``journalctl -p warning`` filters by level. Forced journald format without a journal
(``journald=True``), or when journald's socket cannot be reached, lines go to stderr with
a ``<N>`` syslog-priority prefix and no timestamp. Everywhere else a human format
with timestamps is used. An optional JSON-lines file carries ``bind()``
extras for machine consumption.

Text lines (terminal and journald) show the message with its control characters escaped
(core/terminal.py): a photo's name from the share must not drive the operator's terminal
or forge a line. The JSON file keeps the exact message.

Every sink is added with ``enqueue=True``: writes happen on one background
thread of the parent process, and the logger becomes picklable, which is how
spawned render workers share the parent's sinks (see ``worker_logging``).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from loguru import logger

from .. import testing
from ..core.terminal import escape_controls
from .journald import JOURNAL_SOCKET, JournalSink, journal_priority

if TYPE_CHECKING:
    from loguru import Logger, Message

__all__ = ["configure_logging", "worker_logging", "journal_priority", "stderr_is_journal"]

HUMAN_FORMAT = (
    "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> | <level>{level: <8}</level> | "
    "{process.name} | <cyan>{name}</cyan>:<cyan>{line}</cyan> - "
    "<level>{about}{shown}</level>"
)
TEXT_FORMAT = "{about}{shown}"   # journald's MESSAGE and its stderr fallback

# Tracebacks without local variable values: they can hold file contents or
# secrets and would flood the journal.
_TRACEBACKS = {"backtrace": False, "diagnose": False}

# One log record's message at most (a pasted document must not become a 50 MB line).
MAX_MESSAGE_CHARS = 16_000

# Queues must come from the spawn context: a fork-context lock refuses to be
# pickled into a spawned child, and a spawn-context one also works after fork.
_MP_CONTEXT = "spawn"


def stderr_is_journal() -> bool:
    """True when stderr really is the journald stream systemd gave us.

    ``$JOURNAL_STREAM`` is inherited by anything started from a service
    (including shells), so systemd.exec(5) says to compare its ``dev:inode``
    with stderr rather than trusting its mere presence.
    """
    value = os.environ.get("JOURNAL_STREAM", "")
    try:
        dev, ino = (int(part) for part in value.split(":"))
        st = os.fstat(sys.stderr.fileno())
    except (ValueError, OSError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (dev, ino)


def _clip_message(record) -> None:
    """Bound the message, and put the photo and job it is about (daemon.logcontext) into
    record["about"] for the text formats, unless the message already names them. (Not in
    `extra`: the JSON log has photo and job there already.) record["shown"] is the message
    the text formats write: control characters escaped."""
    text = record["message"]
    extra = record["extra"]
    about = []
    if extra.get("photo") and str(extra["photo"]) not in text:
        about.append(str(extra["photo"]))
    if extra.get("job") is not None and f"job {extra['job']}" not in text:
        about.append(f"job {extra['job']}")
    record["about"] = escape_controls(f"[{', '.join(about)}] ") if about else ""
    if len(text) > MAX_MESSAGE_CHARS:
        keep = MAX_MESSAGE_CHARS // 2
        record["message"] = (f"{text[:keep]} ...[{len(text) - 2 * keep} characters cut]... "
                             f"{text[-keep:]}")
    record["shown"] = escape_controls(record["message"])


def _journal_sink(message: Message) -> None:
    # Prefix every line, so traceback lines keep the record's priority too.
    prio = journal_priority(message.record["level"].no)
    lines = str(message).rstrip("\n").splitlines() or [""]
    sys.stderr.write("".join(f"<{prio}>{line}\n" for line in lines))
    sys.stderr.flush()


class _InterceptHandler(logging.Handler):
    """Hands stdlib ``logging`` records (watchdog, torch, warnings) to loguru."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        depth = 0
        frame = logging.currentframe()
        while frame is not None and (depth == 0 or frame.f_code.co_filename == logging.__file__):
            frame = frame.f_back
            depth += 1
        logger.opt(depth=depth, exception=record.exc_info).log(level, record.getMessage())


def configure_logging(
    level: str | int = "INFO",
    json_file: str | os.PathLike[str] | None = None,
    rotation: str | int | None = "50 MB",
    retention: str | int | None = 5,
    journald: bool | None = None,
    enqueue: bool = True,
) -> None:
    """(Re)configure the process-wide loguru logger; safe to call repeatedly.

    ``journald=None`` auto-detects via ``stderr_is_journal``; True/False
    force the choice. ``rotation``/``retention`` are passed to loguru as is
    ("50 MB", "1 day"; an int retention keeps that many old files). ``enqueue=False``
    writes directly: short commands skip the queue's lock, whose resource-tracker
    process costs a quick command more than half its start-up time.
    """
    logger.remove()
    logger.configure(patcher=_clip_message)
    common = {"level": level, "enqueue": enqueue, **_TRACEBACKS}
    if enqueue:
        common["context"] = _MP_CONTEXT
    under_systemd = stderr_is_journal()
    if journald is None:
        journald = under_systemd
    if journald:
        sink = (JournalSink(testing.journal_socket() or JOURNAL_SOCKET) if under_systemd
                else _journal_sink)
        logger.add(sink, format=TEXT_FORMAT, colorize=False, **common)
    else:
        logger.add(sys.stderr, format=HUMAN_FORMAT, **common)
    if json_file:
        logger.add(
            Path(json_file), serialize=True, rotation=rotation, retention=retention,
            encoding="utf-8", **common,
        )
    _intercept_stdlib(level)


def worker_logging(parent_logger: Logger, level: str | int = "DEBUG") -> None:
    """Route a spawned worker's ``loguru.logger`` into the parent's sinks.

    Use it as the pool initializer, passing the parent's logger (it is
    picklable because every sink above is enqueued)::

        ProcessPoolExecutor(mp_context=get_context("spawn"),
                            initializer=worker_logging, initargs=(logger,))

    Why not call ``configure_logging`` again in the child: several processes
    rotating the same JSON file each rename and delete it independently and
    lose lines. Here every record is formatted in the worker (so tracebacks
    survive) and written only by the parent. Forked workers inherit the
    sinks and need no call at all.
    """
    logger.remove()
    logger.configure(patcher=_clip_message)
    logger.add(_Forward(parent_logger), level=level, format="{message}", colorize=False)
    _intercept_stdlib(level)


def _intercept_stdlib(level: str | int) -> None:
    levelno = logger.level(level).no if isinstance(level, str) else level
    logging.basicConfig(handlers=[_InterceptHandler()], level=levelno, force=True)
    logging.captureWarnings(True)


class _Forward:
    """Sink that replays the worker's record, unchanged, through the parent's logger."""

    def __init__(self, parent: Logger) -> None:
        self.parent = parent

    def __call__(self, message: Message) -> None:
        record = message.record
        # patch() swaps the record wholesale, so time, process, extras and
        # call site stay the worker's; the level number drives filtering.
        self.parent.patch(lambda r: r.update(record)).log(record["level"].no, record["message"])
