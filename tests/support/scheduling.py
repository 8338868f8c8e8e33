"""How `make test` spreads the suite over pytest-xdist workers (`-n 5`).

Most of the suite waits: on daemon processes, signals, deadlines, a booted systemd, Ray.
Five workers on two cores overlap those waits (five: 332 s; four, before the units were
ordered: 355 s; one after the other at low load).

- Each module is one unit, so its module-scoped fixtures (a booted systemd, a Ray cluster,
  a rendered gallery box) are made once, on one worker, in the module's order.
- Modules that share something machine-wide are one unit, run one after the other:
  - the Ray clusters (two at once on two cores miss their start-up deadlines), and the
    test whose `executor.address: auto` must find none running;
  - what adds system users, and the systemd boot that copies /etc/passwd.
- The longest units go first (wall seconds measured at low load), so that no worker
  starts a two-minute unit when the others are done.

The units are made by a scheduler (`UnitScheduling`, xdist's `pytest_xdist_make_scheduler`
hook) from node ids alone, not with `xdist_group` marks: pytest 9.2 node ids can no longer
be renamed the way xdist 3.8's loadgroup does it. Without xdist nothing here is used but
the order.
"""

from __future__ import annotations

from pathlib import PurePosixPath

SHARED = {
    # and test_ray_ignored_settings, whose `address: auto` must find no cluster running
    "ray-clusters": ("test_ray_executor.py", "test_no_device.py",
                     "test_ray_ignored_settings.py"),
    "system-users": ("test_systemd_service.py", "test_inbox_permissions.py",
                     "test_validate_access.py", "test_install_steps_validate.py"),
}
# Units by measured wall time, longest first; the rest keep their collection order.
# (four workers, load 3: ray 207 s, pool 114, system users 109, daemon_watch 67, ...)
LONG_FIRST = ("ray-clusters", "test_pool.py", "system-users", "test_daemon_watch.py",
              "test_printsize.py", "test_style_cards_daemon.py", "test_faults_recovery.py",
              "test_job_timeout_start.py", "test_approve_daemon.py", "test_notify_deadlines.py",
              "test_engine_speed.py", "test_problems_daemon.py", "test_engine.py",
              "test_render_loop.py", "test_worker_startup.py", "test_ops_bulk.py",
              "test_gallery.py", "test_cli_render.py", "test_daemon_once.py",
              "test_ops_daemon.py", "test_style_cards.py", "test_bulk_pass_progress.py")


def unit_of(nodeid: str) -> str:
    """The unit of a test: its module, or the shared unit its module belongs to."""
    module = PurePosixPath(nodeid.split("::", 1)[0]).name
    for unit, modules in SHARED.items():
        if module in modules:
            return unit
    return module


def long_units_first(items: list) -> None:
    """Stable, in place: the order within a unit is kept (module fixtures rely on it)."""
    rank = {unit: i for i, unit in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(unit_of(item.nodeid), len(rank)))


class XdistUnits:
    """Registered as a plugin only where xdist is installed (tests/conftest.py)."""

    @staticmethod
    def pytest_xdist_make_scheduler(config, log):
        from xdist.scheduler import LoadScopeScheduling

        class UnitScheduling(LoadScopeScheduling):
            def _split_scope(self, nodeid: str) -> str:
                return unit_of(nodeid)

        config.option.loadscopereorder = False   # keep our order, not "most tests first"
        return UnitScheduling(config, log)
