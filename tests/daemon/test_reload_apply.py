"""Reload hands each collaborator the reloaded config through its own apply(): the team
desk builds a new notifier only when `notify` changed (reload replaces fields on the config
in place, so the desk must compare with what it was built from, not with the same object),
and Holding and Outcomes take the new retry/hold policy."""

from __future__ import annotations

from pathlib import Path

import yaml

from deepart_batch.daemon.admin.reload import reload_config
from deepart_batch.daemon.events import EventBus
from deepart_batch.daemon.outcomes.results import Outcomes
from deepart_batch.daemon.receivers.team import TeamDesk
from deepart_batch.daemon.schedule.holding import Holding
from deepart_batch.daemon.schedule.policy import PolicySettings
from deepart_batch.settings.config import load_config
from support.boxes import write_config

ROOT = Path(__file__).resolve().parents[2]


class RecordingNotifier:
    closed = False

    def close(self, wait=10.0):
        self.closed = True


def _setup(tmp_path):
    raw = yaml.safe_load((ROOT / "config.example.yaml").read_text())
    path = write_config(tmp_path / "config.yaml", raw)
    config = load_config(path)
    policy = PolicySettings.from_config(config)
    holding = Holding(None, policy, EventBus(), config.manifest.name)
    outcomes = Outcomes(config, None, None, holding, EventBus(), policy)
    team = TeamDesk(config, notifier=RecordingNotifier())
    return raw, path, config, (holding, outcomes, team)


def test_a_reload_without_a_notify_change_keeps_the_notifier(tmp_path):
    raw, path, config, (holding, outcomes, team) = _setup(tmp_path)
    notifier = team.notifier
    raw["problems"]["hold_seconds"] = 7
    write_config(path, raw)
    assert reload_config(config, (holding, outcomes, team)) == ["problems.hold_seconds"]
    assert team.notifier is notifier and not notifier.closed
    assert holding.policy.hold_seconds == outcomes.policy.hold_seconds == 7


def test_a_notify_field_changed_in_place_gets_a_new_notifier(tmp_path):
    raw, path, config, (holding, outcomes, team) = _setup(tmp_path)
    notifier = team.notifier
    raw["notify"]["retries"] = raw["notify"].get("retries", 3) + 2
    write_config(path, raw)
    assert reload_config(config, (holding, outcomes, team)) == ["notify.retries"]
    assert notifier.closed and team.notifier is not notifier
    assert holding.policy == PolicySettings.from_config(config)
