"""The status file the daemon writes each second names a few of the photos it holds in
the inbox and counts them all, so neither it nor `status` grows with a held drop."""

from __future__ import annotations

import json

from deepart_batch.core.states import FailureReason
from deepart_batch.daemon.admin.status import collect
from deepart_batch.daemon.events import Tick
from deepart_batch.daemon.receivers.ops_hooks import HELD_IN_INBOX_LISTED, OpsHooks
from deepart_batch.settings.config import load_config
from support.boxes import Box, composed


def test_a_held_drop_is_counted_in_the_status_file_and_a_few_are_named(tmp_path):
    box = Box(tmp_path, canned=True)
    with composed(box) as service:
        for n in range(500):
            service.holding.hold_in_inbox(f"city/{n:04d}.jpg", None, "line 3: bad indent")
        service.holding.hold_in_inbox("locked/b.jpg", None, "Permission denied",
                                      FailureReason.INBOX_PERMISSIONS)
        hooks = OpsHooks(service.config, service.journal, service.pool, service.watcher,
                         service.manifests, service.notifier, service.layout.status_file,
                         False, service.holding.in_inbox_by_reason)
        hooks.tick(Tick())
        written = json.loads(service.layout.status_file.read_text())
        assert written["held_in_inbox"] == [f"city/{n:04d}.jpg"
                                            for n in range(HELD_IN_INBOX_LISTED)]
        assert set(written["held_in_inbox_reasons"]) == set(written["held_in_inbox"])
        assert written["held_in_inbox_by_reason"] == {"manifest_invalid": 500,
                                                      "inbox_permissions": 1}
        info = collect(load_config(box.config))
    assert info["held"]["total"] == info["counts"]["held"] == 501
    assert info["held"]["by_reason"] == {"manifest_invalid": 500, "inbox_permissions": 1}
    assert len(info["held"]["photos"]) == HELD_IN_INBOX_LISTED
