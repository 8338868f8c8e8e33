"""How `make test` spreads the suite over pytest-xdist workers (`-n 4 --dist loadgroup`).

Most of the suite waits: on daemon processes, signals, deadlines, a booted systemd, Ray.
Four workers on two cores overlap those waits.

- Each module is one unit (an `xdist_group` named after it), so its module-scoped fixtures
  (a booted systemd, a Ray cluster, a rendered gallery box) are made once, on one worker.
- Modules that share something machine-wide are one unit, run one after the other:
  - the Ray clusters (two at once on two cores miss their start-up deadlines);
  - what adds system users, and the systemd boot that copies /etc/passwd.
- The longest units go first (wall seconds measured at low load), so that no worker
  starts a two-minute unit when the others are done.
Without xdist (`make test-fast`, a single file) the markers change nothing.
"""

from __future__ import annotations

from pathlib import Path

SHARED = {
    "ray-clusters": ("test_ray_executor.py", "test_no_device.py"),
    "system-users": ("test_systemd_service.py", "test_inbox_permissions.py",
                     "test_validate_access.py"),
}
# Units by measured wall time, longest first; the rest keep their collection order.
LONG_FIRST = ("system-users", "ray-clusters", "test_pool.py", "test_problems_daemon.py",
              "test_printsize.py", "test_style_cards_daemon.py", "test_job_timeout_start.py",
              "test_worker_startup.py", "test_daemon_watch.py", "test_approve_daemon.py",
              "test_faults_recovery.py", "test_notify_deadlines.py", "test_cli_render.py",
              "test_ops_bulk_truth.py", "test_render_loop.py", "test_engine_speed.py",
              "test_engine.py")


def unit_of(path: Path) -> str:
    """The xdist group of a test module."""
    for unit, modules in SHARED.items():
        if path.name in modules:
            return unit
    return path.name


def arrange(items: list) -> None:
    """Mark each item with its unit and put the long units first (stable, in place)."""
    import pytest
    rank = {unit: i for i, unit in enumerate(LONG_FIRST)}
    for item in items:
        item.add_marker(pytest.mark.xdist_group(unit_of(Path(item.fspath))))
    items.sort(key=lambda item: rank.get(unit_of(Path(item.fspath)), len(rank)))
