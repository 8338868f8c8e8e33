"""What a person reads in a chat: one line per event (photo, campaign, style, state, the
reason in words) and a link to its campaign's gallery page when gallery.base_url is set.
Built from the event as sent to webhooks, which already carries no server paths."""

from __future__ import annotations

import urllib.parse
from pathlib import PurePosixPath

from ..core.outbox_names import PAGE_NAME
from ..core.style_card_names import STYLES_FOLDER, STYLES_PAGE
from ..core.states import DaemonEvent

STATE_WORDS = {
    DaemonEvent.PHOTO_DONE.value: "done",
    DaemonEvent.PHOTO_FAILED.value: "failed",
    DaemonEvent.PHOTO_HELD.value: "waiting",
    DaemonEvent.PHOTO_RELEASED.value: "released",
    DaemonEvent.PRINT_READY.value: "print ready",
    DaemonEvent.CARD_READY.value: "card ready",
    DaemonEvent.PASS_FINISHED.value: "bulk pass finished",
    DaemonEvent.FOLDER_MISSING.value: "folder missing",
    DaemonEvent.FOLDER_BACK.value: "folder back",
    DaemonEvent.NOTIFY_TEST.value: "test",
}
PHOTO_KINDS = (DaemonEvent.PHOTO_DONE.value, DaemonEvent.PHOTO_FAILED.value,
               DaemonEvent.PHOTO_HELD.value, DaemonEvent.PHOTO_RELEASED.value,
               DaemonEvent.PRINT_READY.value, DaemonEvent.CARD_READY.value)
# Events whose line counts the pictures they put in the outbox.
READY_KINDS = (DaemonEvent.PHOTO_DONE.value, DaemonEvent.PRINT_READY.value,
               DaemonEvent.CARD_READY.value)
MAX_LINE = 280


def campaign_name(event: dict) -> str:
    return event.get("campaign") or "(top level)"


def one_line(event: dict) -> str:
    """`beach.jpg · summer · starry-night · failed: The photo could not be read ...`."""
    kind = event.get("event", "")
    state = STATE_WORDS.get(kind, str(kind))
    words = event.get("message") or ""
    if kind in PHOTO_KINDS:
        parts = [PurePosixPath(event.get("photo") or "?").name, campaign_name(event)]
        styles = event.get("styles") or []
        if styles:
            parts.append(", ".join(map(str, styles)))
        text = " · ".join(parts) + f" · {state}"
        if kind in READY_KINDS:
            count = len(event.get("outputs") or [])
            text += f": {count} picture{'s' if count != 1 else ''} in the outbox"
        elif words:
            text += f": {words}"             # what to do is in the problem note and email
    else:
        text = f"{state}: {words}" if words else state
    text = " ".join(text.split())            # one line, whatever a name or message holds
    return text if len(text) <= MAX_LINE else text[:MAX_LINE - 1] + "…"


def gallery_link(base_url: str | None, campaign: str | None) -> str | None:
    """The campaign's page (outbox/<campaign>/index.html) under gallery.base_url, the
    styles page for style cards, or the index page for photos at the inbox's top level;
    None without a base_url."""
    if not base_url:
        return None
    base = base_url if base_url.endswith("/") else base_url + "/"
    if campaign == STYLES_FOLDER:
        return base + STYLES_PAGE
    if not campaign:
        return base + PAGE_NAME
    return base + urllib.parse.quote(campaign.strip("/")) + "/" + PAGE_NAME
