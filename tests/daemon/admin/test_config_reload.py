"""`systemctl reload` (SIGHUP): which config changes apply to a running service and which
are named as needing a restart (daemon/admin/reload.py). Under a real systemd, with the daemon's
MainPID unchanged: tests/scenarios/test_systemd_service.py."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import yaml
from loguru import logger

from support.boxes import write_config

from deepart_batch.daemon.admin.reload import reload_config
from deepart_batch.daemon.events import EventBus
from deepart_batch.daemon.outcomes.results import Outcomes
from deepart_batch.daemon.receivers.team import TeamDesk
from deepart_batch.daemon.schedule.holding import Holding
from deepart_batch.daemon.schedule.policy import PolicySettings
from deepart_batch.settings.config import load_config

ROOT = Path(__file__).resolve().parents[3]


class FakeNotifier:
    closed = False

    def close(self, wait=10.0):
        self.closed = True


def setup(tmp_path):
    raw = yaml.safe_load((ROOT / "config.example.yaml").read_text())
    path = tmp_path / "config.yaml"
    write_config(path, raw)
    config = load_config(path)
    policy = PolicySettings.from_config(config)
    holding = Holding(None, policy, EventBus(), config.manifest.name)
    service = SimpleNamespace(config=config, holding=holding,
                              outcomes=Outcomes(config, None, None, holding, EventBus(), policy),
                              team=TeamDesk(config, notifier=FakeNotifier()))
    return raw, path, config, service


def reload(service):
    """What the service does on SIGHUP: the collaborators that copy settings get apply()."""
    return reload_config(service.config, (service.holding, service.outcomes, service.team))


def logged(fn):
    lines = []
    sink = logger.add(lambda m: lines.append(str(m).rstrip()), format="{message}")
    try:
        return fn(), lines
    finally:
        logger.remove(sink)


def test_reloadable_fields_apply_in_place_and_the_rest_is_named(tmp_path):
    raw, path, config, service = setup(tmp_path)
    old_notifier = service.team.notifier
    raw["defaults"]["size"] = 48
    raw["problems"]["hold_seconds"] = 5
    raw["notify"]["retries"] = 1
    raw["watch"]["settle_seconds"] = 9
    raw["devices"] = ["cpu"]
    write_config(path, raw)
    applied, lines = logged(lambda: reload(service))
    assert sorted(applied) == ["defaults", "notify.retries", "problems.hold_seconds"]
    assert config.defaults["size"] == 48 and config.problems.hold_seconds == 5
    assert config.watch.settle_seconds == 5 and config.devices == "auto"   # not applied
    assert service.holding.policy == service.outcomes.policy
    assert service.outcomes.policy.hold_seconds == 5
    assert old_notifier.closed and service.team.notifier is not old_notifier
    assert len(lines) == 1
    assert "needs a restart, not applied: devices, watch.settle_seconds" in lines[0]


def test_a_config_that_does_not_load_changes_nothing(tmp_path):
    raw, path, config, service = setup(tmp_path)
    raw["defaults"]["size"] = 48
    raw["max_atempts"] = 3
    write_config(path, raw)
    applied, lines = logged(lambda: reload(service))
    assert applied == [] and config.defaults["size"] == 1024
    assert len(lines) == 1 and "reload: config not reloaded" in lines[0]
    assert "max_atempts: unknown key" in lines[0]
