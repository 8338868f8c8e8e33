"""The gallery as a receiver: its pages are written from STARTED (after start-up recovery)
until STOPPED, by the writer's own thread (gallery/writer.py)."""

from __future__ import annotations

from ...core.states import DaemonEvent
from ...gallery.writer import GalleryWriter


class GalleryHook:
    def __init__(self, writer: GalleryWriter):
        self.writer = writer

    def connect(self, bus) -> None:
        bus.connect(self.started, DaemonEvent.STARTED)
        bus.connect(self.stopped, DaemonEvent.STOPPED)

    def started(self, _event) -> None:
        self.writer.start()

    def stopped(self, _event) -> None:
        self.writer.close()
