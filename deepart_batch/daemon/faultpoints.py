"""Named points where a test can stop the daemon dead, as kill -9 would, but exactly there.

DEEPART_TEST_CRASH_AT=<name> makes the process os._exit(CRASH_EXIT) when it reaches that
point; unset (always, outside tests) it costs one dictionary lookup.
"""

from __future__ import annotations

import os

CRASH_EXIT = 86
POINTS = ("after_claim_move", "after_archive_rename", "after_publish_image")


def crash_point(name: str) -> None:
    assert name in POINTS, name
    if os.environ.get("DEEPART_TEST_CRASH_AT") == name:
        os._exit(CRASH_EXIT)
