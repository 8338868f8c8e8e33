"""Operational glue: systemd notify, logging setup, Prometheus metrics.

Kept apart from the engine so it stays stdlib + loguru and importable on a
machine without torch.
"""

from deepart_batch.ops.logsetup import configure_logging, worker_logging
from deepart_batch.ops.metrics import (
    MetricsServer,
    MetricsSnapshot,
    render_prometheus,
    write_textfile,
)
from deepart_batch.ops.sdnotify import Notifier, watchdog_interval

__all__ = [
    "MetricsServer", "MetricsSnapshot", "Notifier", "configure_logging", "render_prometheus",
    "watchdog_interval", "worker_logging", "write_textfile",
]
