"""docs/notifications.md lists every event the team can be notified of, no more, and the
config's `notify.events` takes exactly those: a new event kind cannot ship undocumented."""

import re

from conftest import ROOT
from deepart_batch.core.states import NOTICES
from deepart_batch.notifications.text import STATE_WORDS
from deepart_batch.settings.notify_config import NOTIFY_EVENTS

DOC = ROOT / "docs" / "notifications.md"


def _documented_events() -> list[str]:
    """The first column of the table under `## Events`."""
    section = DOC.read_text().split("\n## Events\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z_]+)` +\|", section, re.M)


def test_the_events_table_lists_every_notified_event_once():
    documented = _documented_events()
    assert len(documented) == len(set(documented)), documented
    assert set(documented) == {e.value for e in NOTICES}


def test_the_config_takes_every_notified_event_and_each_has_words_for_chat():
    assert set(NOTIFY_EVENTS) == NOTICES
    assert {e.value for e in NOTICES} <= set(STATE_WORDS)
