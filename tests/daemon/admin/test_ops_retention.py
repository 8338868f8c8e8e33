"""Retention: `prune` and the daemon's retention timer remove only old, finished inputs."""

import time

import pytest

from support.boxes import Box

from deepart_batch.journal import Journal
from deepart_batch.daemon.admin.retention import RetentionTimer, prune
from deepart_batch.errors import ConfigError
from deepart_batch.settings.config import load_config
from support.jobs import toy_spec
from support.journal_files import backdate, held_exclusively

DAY = 86400


def _input(journal, state_dir, rel, state, age_days, job_state="done", duplicate_of=None):
    """An input as the daemon leaves it: a file in work/ (unfinished) or done/ / failed/."""
    folder = {"claimed": "work", "done": "done", "failed": "failed"}[state]
    path = state_dir / folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * 1000)
    input_id = journal.begin_claim(rel, rel.split("/")[0], str(path))
    journal.finish_claim(input_id, "sha")
    job = journal.add_job(input_id, f"key-{rel}", "", 0, "starry", toy_spec(), f"/out/{rel}",
                          f"/out/{rel}.json", state=job_state,
                          duplicate_of=duplicate_of)
    if state != "claimed":
        if state == "failed":
            path.with_name(path.name + ".error.json").write_text("{}")
        journal.archive_input(input_id, state, str(path), None)
    then = time.time() - age_days * DAY
    backdate(journal, input_id, then)   # as if the photo had come in days ago
    return input_id, job, path


def _state(tmp_path):
    box = Box(tmp_path)
    state = box.state
    journal = Journal(state / "journal.sqlite")
    old_done = _input(journal, state, "city/old.jpg", "done", 40)
    old_failed = _input(journal, state, "old-bad.jpg", "failed", 45, job_state="failed")
    new_done = _input(journal, state, "city/new.jpg", "done", 2)
    unfinished = _input(journal, state, "slow.jpg", "claimed", 60, job_state="queued")
    return box, journal, old_done, old_failed, new_done, unfinished


def _ids(journal, table):
    return journal.input_ids() if table == "inputs" else journal.job_ids()


def test_prune_cli_removes_only_old_finished_inputs(tmp_path):
    box, journal, old_done, old_failed, new_done, unfinished = _state(tmp_path)
    journal.close()
    dry = box.cli("prune", "--config", box.config, "--older-than", "30d", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would have" in dry.stdout and old_done[2].exists()
    res = box.cli("prune", "--config", box.config, "--older-than", "30d")
    assert res.returncode == 0, res.stderr
    assert "2 archived file(s)" in res.stdout and "2 input / 2 job row(s)" in res.stdout
    assert not old_done[2].exists() and not old_failed[2].exists()
    assert not old_failed[2].with_name("old-bad.jpg.error.json").exists()
    assert new_done[2].exists() and unfinished[2].exists()      # newer, and not finished
    journal = Journal(box.state / "journal.sqlite")
    assert _ids(journal, "inputs") == {new_done[0], unfinished[0]}
    assert _ids(journal, "jobs") == {new_done[1], unfinished[1]}
    assert (box.state / "done" / "city").is_dir()   # still holds new.jpg
    journal.close()


def test_prune_keeps_an_input_whose_render_a_waiting_duplicate_needs(tmp_path):
    box = Box(tmp_path)
    journal = Journal(box.state / "journal.sqlite")
    old = _input(journal, box.state, "old.jpg", "done", 40)
    # a later re-drop still waiting on the old input's job (as the daemon records them)
    waiting = _input(journal, box.state, "again.jpg", "claimed", 1, job_state="waiting",
                     duplicate_of=old[1])
    result = prune(journal, box.state, 30 * DAY)
    assert result.inputs == 0 and old[2].exists()
    assert _ids(journal, "jobs") == {old[1], waiting[1]}


def test_daemon_retention_timer_prunes_when_configured(tmp_path):
    box = Box(tmp_path, retention={"older_than": "30 days", "interval_seconds": 60})
    config = load_config(box.config)
    assert config.retention.older_than == 30 * DAY
    journal = Journal(box.state / "journal.sqlite")
    old = _input(journal, box.state, "old.jpg", "done", 31)
    new = _input(journal, box.state, "new.jpg", "done", 29)
    timer = RetentionTimer(config, journal)
    timer.tick()
    assert not old[2].exists() and new[2].exists()
    assert _ids(journal, "inputs") == {new[0]}
    timer.tick()                     # within interval_seconds: no second pass
    journal.close()


def test_retention_is_off_by_default_and_checked(tmp_path):
    box = Box(tmp_path)
    assert load_config(box.config).retention.older_than is None
    res = box.cli("prune", "--config", box.config)
    assert res.returncode == 2 and "--older-than" in res.stderr
    with pytest.raises(ConfigError) as info:
        load_config(Box(tmp_path / "b", retention={"older_than": "30"}).config)
    assert "retention.older_than" in str(info.value) and "30d" in str(info.value)


def test_prune_on_a_busy_journal_removes_no_file(tmp_path):
    """The rows go first: when another program holds the journal, nothing is deleted."""
    from deepart_batch.journal import JournalBusy
    box = Box(tmp_path)
    journal = Journal(box.state / "journal.sqlite", busy_budget=0.3, busy_wait=0.05)
    old = _input(journal, box.state, "old.jpg", "done", 40)
    with held_exclusively(box.state / "journal.sqlite"):
        with pytest.raises(JournalBusy):
            prune(journal, box.state, 30 * DAY)
        assert old[2].exists()
    assert prune(journal, box.state, 30 * DAY).inputs == 1 and not old[2].exists()
    journal.close()
