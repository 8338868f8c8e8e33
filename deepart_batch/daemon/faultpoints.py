"""Named points where a test can stop the daemon dead, as kill -9 would, but exactly there.

The switch (DEEPART_TEST_CRASH_AT=<name>) is read by deepart_batch.testing; at a point it
names, the process os._exit(CRASH_EXIT)s. Unset (always, outside tests) it costs one
dictionary lookup.
"""

from __future__ import annotations

import os

from .. import testing

CRASH_EXIT = 86
POINTS = ("after_claim_move", "after_archive_rename", "after_publish_image")


def crash_point(name: str) -> None:
    assert name in POINTS, name
    if testing.crash_point_enabled(name):
        os._exit(CRASH_EXIT)
