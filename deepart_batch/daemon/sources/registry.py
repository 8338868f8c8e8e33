"""Admission: the registered job sources, asked in order. It never looks at a path itself:
each source says which claimed inputs are its own (protocol.py), and every plan goes
through the one guard (guard.py), at the first take, when a hold ends, and at start-up
recovery."""

from __future__ import annotations

from typing import Callable, Iterable

from loguru import logger

from .guard import box_trouble, plan_one
from .protocol import JobSource, SourceContext, Watching


class Sources:
    """The job sources of one service, in the order they are asked."""

    def __init__(self, factories: Iterable[Callable[[SourceContext], JobSource]],
                 context: SourceContext):
        self.context = context
        self.all: list[JobSource] = [make(context) for make in factories]
        for source in self.all:
            if not isinstance(source, JobSource):
                raise TypeError(f"{source!r} is not a JobSource (sources/protocol.py)")
        self._failing: dict[str, str] = {}   # source name -> last error, logged once

    def named(self, name: str) -> JobSource:
        return next(s for s in self.all if s.name == name)

    def owner(self, relpath: str) -> JobSource:
        """The source a claimed input came from: the first that owns it, the catch-all
        (the inbox) last."""
        for source in sorted(self.all, key=lambda s: s.catch_all):
            if source.owns(relpath):
                return source
        raise LookupError(f"no job source owns {relpath}")

    def plan(self, inp) -> list[int]:
        """The jobs of a claimed input from its own source, behind the guard."""
        return plan_guarded(self.owner(inp.relpath), inp, self.context.outcomes)

    def plan_again(self, inp) -> None:
        """An input whose hold is over: plan it again and archive it if that finished it."""
        queued = self.plan(inp)
        if queued:
            logger.info("{}: no longer held ({} job(s) queued)", inp.relpath, len(queued))
        self.context.outcomes.maybe_archive(inp.id)

    def take_due(self, present: Callable[[str], bool], stopping: Callable[[], bool]) -> None:
        """Each source whose folder is there takes its settled files, in order. A source
        that fails unexpectedly is logged (once per error) and the others still run."""
        for source in self.all:
            if stopping() or not present(source.needs):
                continue
            try:
                source.take_due(stopping)
                self._failing.pop(source.name, None)
            except Exception as exc:
                if box_trouble(exc):
                    raise
                text = f"{type(exc).__name__}: {exc}"
                if self._failing.get(source.name) != text:
                    logger.opt(exception=exc).error("{}: taking files failed ({}); the "
                                                    "daemon goes on", source.name, text)
                self._failing[source.name] = text

    # -- the sources that watch a folder start and stop their own observers ---------------
    def watching(self) -> list:
        return [s for s in self.all if isinstance(s, Watching)]

    def start_watching(self, once: bool) -> None:
        """Each watching source scans its folder (`once`) or starts its observer."""
        for source in self.watching():
            source.start_watching(once)

    def stop_watching(self) -> None:
        for source in self.watching():
            try:
                source.stop_watching()
            except Exception as exc:   # the others still stop
                logger.warning("{}: stopping its observer failed: {}", source.name, exc)

    def dead_observers(self, present: Callable[[str], bool]) -> list[str]:
        """The sources whose observer died while their folder is there."""
        return [s.name for s in self.watching() if present(s.needs) and not s.observing()]

    def pending(self) -> int:
        return sum(source.pending() for source in self.all)

    def startable(self, ready: list, running: list) -> list:
        """The ready jobs that may start now: each source says in turn."""
        for source in self.all:
            ready = source.startable(ready, running)
        return ready


def plan_guarded(source: JobSource, inp, outcomes) -> list[int]:
    """`source.plan(inp)` behind the one guard: a failure is that input's problem."""
    return plan_one(inp, source.plan, outcomes, source.failure_reason)
