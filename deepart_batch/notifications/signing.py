"""Standard Webhooks 1.0 signing: `v1,<base64 HMAC-SHA256>` over `id.timestamp.body`.

The message id is derived from what the message is about (the event's identity), never
drawn at random, so every retry and a resend after a restart carry the same `webhook-id`
and a receiver can drop repeats. The timestamp is the time of each attempt: receivers
refuse signatures older than five minutes, and a retry after a long backoff must pass.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from ..core.webhook_secret import WebhookSecret

ID_PREFIX = "msg_"
# What makes two events the same news; `key` is set by the sender where the journal gives
# a stable identity (an input's id and state change), the rest is the fallback.
IDENTITY_FIELDS = ("key", "box", "event", "campaign", "photo", "jobs", "reason", "outputs",
                   "counts")


def message_id(event: dict) -> str:
    """The webhook-id of one event: the same for the same event, whenever it is sent."""
    if event.get("key"):
        identity = {"key": event["key"]}
    else:
        identity = {k: event.get(k) for k in IDENTITY_FIELDS}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode())
    return ID_PREFIX + digest.hexdigest()[:32]


def batch_id(ids: list[str]) -> str:
    """The id of a message about several events: the same set of events, the same id."""
    digest = hashlib.sha256("\n".join(sorted(ids)).encode())
    return ID_PREFIX + digest.hexdigest()[:32]


def signature(secret: WebhookSecret, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{int(timestamp)}.".encode() + body
    mac = hmac.new(secret.key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def signed_headers(secret: WebhookSecret | None, msg_id: str, body: bytes,
                   now: float | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt; without a secret the id and
    timestamp alone (a receiver can still deduplicate)."""
    timestamp = int(time.time() if now is None else now)
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(timestamp)}
    if secret is not None:
        headers["webhook-signature"] = signature(secret, msg_id, timestamp, body)
    return headers
