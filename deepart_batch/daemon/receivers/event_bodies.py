"""The body of each event the team's tools receive: a photo done, failed, held or released,
a print or a style card ready, a bulk pass, a folder gone or back. Names as dropped,
outputs relative to the outbox, the style names, a plain-language message; never a server
path.

`key` is the event's identity from the journal (the input, the kind, its holds so far), so
its webhook-id (notifications/signing.py) is the same on every retry and after a restart,
while a new failure after `retry` (a new input) is a new id. Delivery is
notifications/notifier.py's.
"""

from __future__ import annotations

import socket
import uuid
from datetime import datetime, timezone
from pathlib import PurePosixPath

from ...core.state_texts import message, plain
from ...core.states import NOTICES, DaemonEvent, FailureReason

SCHEMA_VERSION = 1
# What a released photo was waiting for, in words (the hold's reason); others say the reason.
_WAITED = {FailureReason.STYLE_MISSING: "its painting is there now",
           FailureReason.NO_RULE: "the manifest has a rule for it now",
           FailureReason.MANIFEST_INVALID: "the manifest is valid again",
           FailureReason.NO_DEVICE: "a render device is there now",
           FailureReason.FOLDER_MISSING: "the folder is back",
           FailureReason.OUTBOX_UNWRITABLE: "the outbox takes files again",
           FailureReason.DISK_FULL: "there is disk space again"}


def photo_key(input_id: int | None, kind: DaemonEvent | str, holds: int = 0) -> str:
    """The journal identity of a photo event; "" for a photo with no journal row yet (one
    held in the inbox), whose webhook-id then comes from its fields."""
    if input_id is None:
        return ""
    return f"input {input_id} {DaemonEvent(kind).value} {holds}"


def build_event(kind: DaemonEvent | str, *, photo: str | None = None, campaign: str | None = None,
                outputs: list[str] | tuple = (), reason=None, detail: str = "",
                counts: dict | None = None, jobs: list[int] | tuple = (),
                styles: list[str] | tuple = (), key: str = "") -> dict:
    """One event as the team's tools receive it: names as dropped, outputs relative to the
    outbox, a plain-language message; no server paths."""
    kind = DaemonEvent(kind)
    if kind not in NOTICES:
        raise ValueError(f"{kind} is not something the team is notified of")
    name = PurePosixPath(photo).name if photo else ""
    event = {"schema": SCHEMA_VERSION, "event": kind.value, "id": uuid.uuid4().hex,
             "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             "box": socket.gethostname(), "campaign": campaign, "photo": photo,
             "outputs": list(outputs), "jobs": list(jobs), "styles": list(styles),
             "reason": None, "category": None, "message": "", "todo": ""}
    if key:
        event["key"] = key
    if kind in (DaemonEvent.PHOTO_FAILED, DaemonEvent.PHOTO_HELD):
        reason = FailureReason.parse(reason)
        event["reason"], event["category"] = reason.value, reason.category.value
        event["message"], event["todo"] = message(reason, name, detail)
    elif kind in (DaemonEvent.FOLDER_MISSING, DaemonEvent.FOLDER_BACK):
        missing = kind is DaemonEvent.FOLDER_MISSING
        event["reason"] = FailureReason.FOLDER_MISSING.value if missing else None
        event["category"] = FailureReason.FOLDER_MISSING.category.value if missing else None
        event["message"] = (f"A folder of the render box cannot be reached ({plain(detail)}): "
                            "nothing is published until it is back." if missing else
                            f"The folder is back ({plain(detail)}): work goes on by itself.")
        event["todo"] = message(FailureReason.FOLDER_MISSING, "", detail)[1] if missing else ""
    elif kind is DaemonEvent.PHOTO_RELEASED:
        reason = FailureReason.parse(reason)
        event["reason"], event["category"] = reason.value, reason.category.value
        event["message"] = (f'"{name}" no longer waits ({_WAITED.get(reason, reason.value)}): '
                            "it is rendered now.")
    elif kind is DaemonEvent.PHOTO_DONE:
        event["message"] = f'"{name}" is ready: {len(event["outputs"])} picture(s) in the outbox.'
    elif kind is DaemonEvent.PRINT_READY:
        event["message"] = (f'The print of "{name}" is ready: {len(event["outputs"])} '
                            "picture(s) at print size in the outbox.")
    elif kind is DaemonEvent.CARD_READY:
        event["message"] = (f'The style card of "{name}" is ready: {len(event["outputs"])} '
                            "picture(s) on the styles page.")
    else:
        counts = dict(counts or {})
        event["counts"] = counts
        event["message"] = "Bulk pass finished: " + ", ".join(
            f"{n} {k.replace('_', ' ')}" for k, n in counts.items()) + "."
    return event
