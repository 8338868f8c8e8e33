"""What every command shares when it talks to a person: the program's name and the order
of the last lines on stderr."""

from __future__ import annotations

PROG = "deepart-batch"


def flush_logs() -> None:
    """Log sinks are enqueued (written by a background thread): let them drain first, so
    the error is the last line a person or a script reads."""
    from loguru import logger
    logger.complete()
