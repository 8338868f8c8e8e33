"""The daemon's vocabulary and its pure retry/hold/fail policy."""

import pytest

from deepart_batch.daemon.schedule.policy import Action, PolicySettings, decide, hold_delay
from deepart_batch.core.states import (INPUT_TRANSITIONS, JOB_TRANSITIONS, TEXTS, Category,
                                         FailureReason, InputState, InvalidTransition, JobState,
                                         check_transition, message, plain)


def test_every_reason_has_a_category_and_a_plain_message():
    assert set(TEXTS) == set(FailureReason)
    for reason in FailureReason:
        assert reason.category in set(Category)
        what, todo = message(reason, "photo.jpg", "/srv/deepart/styles/starry.jpg: gone")
        assert what and todo and what.endswith(".") and "/srv" not in what + todo
        assert "{" not in what + todo  # every placeholder filled


def test_reasons_from_older_versions_and_unknown_ones_map_into_the_enum():
    assert FailureReason.parse("pixels") is FailureReason.TOO_MANY_PIXELS
    assert FailureReason.parse("input") is FailureReason.IMAGE
    assert FailureReason.parse("outbox") is FailureReason.OUTBOX_UNWRITABLE
    assert FailureReason.parse("something new") is FailureReason.ERROR
    assert FailureReason.parse(None) is FailureReason.ERROR
    assert FailureReason.parse("style_missing") is FailureReason.STYLE_MISSING


def test_plain_drops_server_paths_but_keeps_names():
    assert plain("/var/lib/deepart/work/123-a.jpg -> /x/y/done/a.jpg") == "123-a.jpg -> a.jpg"
    assert plain("size 2048 needs 3.1 GiB") == "size 2048 needs 3.1 GiB"


def test_photo_names_with_braces_are_not_templates():
    what, _ = message("no_rule", "{detail}{0}.jpg")
    assert '"{detail}{0}.jpg"' in what


def test_transitions_are_guarded():
    check_transition(JOB_TRANSITIONS, "job", 1, JobState.QUEUED, JobState.RUNNING)
    check_transition(JOB_TRANSITIONS, "job", 1, JobState.HELD, JobState.QUEUED)
    check_transition(INPUT_TRANSITIONS, "input", 1, InputState.FAILED, InputState.RETRIED)
    with pytest.raises(InvalidTransition, match="done -> running"):
        check_transition(JOB_TRANSITIONS, "job", 1, JobState.DONE, JobState.RUNNING)
    with pytest.raises(InvalidTransition):
        check_transition(INPUT_TRANSITIONS, "input", 1, InputState.DONE, InputState.FAILED)
    with pytest.raises(InvalidTransition):
        check_transition(JOB_TRANSITIONS, "job", 1, None, JobState.RUNNING)


S = PolicySettings(max_attempts=3, hold_seconds=10, hold_max_seconds=60)


@pytest.mark.parametrize("reason", [r for r in FailureReason if r.category is Category.PHOTO])
def test_the_photos_trouble_fails_at_once(reason):
    assert decide(reason, 0, 0, S).action is Action.FAIL


@pytest.mark.parametrize("reason", [r for r in FailureReason if r.category is Category.SETUP])
def test_setup_trouble_holds_however_often(reason):
    out = decide(reason, 99, 99, S)
    assert out.action is Action.HOLD and out.reason is reason and out.delay == 60


def test_hold_backoff_doubles_up_to_the_cap():
    assert [hold_delay(n, S) for n in range(5)] == [10, 20, 40, 60, 60]
    assert hold_delay(10**6, S) == 60


def test_render_trouble_retries_until_max_attempts():
    assert decide("crashed", 1, 0, S).action is Action.RETRY
    assert decide("timeout", 2, 0, S).action is Action.RETRY
    assert decide("crashed", 3, 0, S).action is Action.FAIL
    assert decide("oom", 1, 0, S).action is Action.FAIL          # on_oom already applied
    assert decide("interrupted", 0, 0, S).action is Action.FAIL
    assert decide("nonsense", 0, 0, S) == decide("error", 0, 0, S)
