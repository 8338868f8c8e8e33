"""SIGTERM during start-up (imports, weights, journal checks) must end cleanly too.

The CLI installs this handler first thing, before the heavy imports; the service's own
handler replaces it in run() and picks up a stop that arrived meanwhile.
"""

from __future__ import annotations

import signal

_requested = False


def _note(*_) -> None:
    global _requested
    _requested = True


def catch_early_stop() -> None:
    signal.signal(signal.SIGTERM, _note)
    signal.signal(signal.SIGINT, _note)


def early_stop_requested() -> bool:
    return _requested
