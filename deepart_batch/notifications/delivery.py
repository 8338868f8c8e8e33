"""Endpoints and the delivery of one message to one of them: tried until it is taken, each
try bounded by its own deadline, with backoff between tries, until the tries or the time
run out. The backoff schedule is passed in (the daemon's one backoff rule), so this
package needs nothing above it.

What logs, the delivery log and `notify test` say about an endpoint is `shown`: its format
and scheme://host, never a secret or a URL's path (a chat webhook URL is the credential).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from ..core.states import DeliveryStatus
from ..core.webhook_secret import WebhookSecret
from ..journal.records import Delivery
from ..settings.notify_config import CHAT_FORMATS, EndpointConfig
from .signing import signed_headers
from .transport import Cutter, DeliveryError, post, run_command


@dataclass(frozen=True)
class Message:
    """One body for one endpoint: the same id on every try; `event` is the event kind, or
    'batch' for a chat message about several photos."""
    id: str
    event: str
    summary: str
    body: bytes


class Endpoint:
    """Where messages go. `format`: json (signed when it has a secret), slack, teams, or
    command (the event JSON on a program's stdin)."""

    def __init__(self, format: str, shown: str, url: str | None = None,
                 argv: list[str] | None = None, secret: WebhookSecret | None = None):
        self.format, self.shown, self.url, self.argv = format, shown, url, argv
        self.secret = secret

    @classmethod
    def from_config(cls, cfg: EndpointConfig) -> "Endpoint":
        return cls(cfg.format, cfg.shown, url=cfg.url,
                   secret=None if cfg.format in CHAT_FORMATS else cfg.secret)

    @classmethod
    def command(cls, argv: list[str]) -> "Endpoint":
        return cls("command", f"command {argv[0]}", argv=list(argv))

    @property
    def is_chat(self) -> bool:
        return self.format in CHAT_FORMATS

    @property
    def signed(self) -> bool:
        return self.secret is not None

    def send(self, message: Message, deadline: float, cutter: Cutter | None = None) -> str:
        """One try; what the endpoint answered ("HTTP 204", "exit 0"), else DeliveryError."""
        if self.argv is not None:
            run_command(self.argv, message.body, deadline, cutter)
            return "exit 0"
        headers = {} if self.is_chat else signed_headers(self.secret, message.id, message.body)
        return f"HTTP {post(self.url, message.body, headers, deadline, cutter)}"

    def __repr__(self) -> str:
        return f"<Endpoint {self.shown}>"


def endpoints_from_config(notify) -> list[Endpoint]:
    """Every endpoint of a NotifyConfig: webhook, endpoints, then the command."""
    out = [Endpoint.from_config(e) for e in notify.all_endpoints()]
    if notify.command:
        out.append(Endpoint.command(notify.command))
    return out


@dataclass
class RetryPolicy:
    """tries = retries + 1; each try ends by `timeout` seconds; `backoff(n)` is the wait
    before try n+2 (n = 0 first), the daemon's policy.backoff with its first wait."""
    retries: int = 3
    timeout: float = 10.0
    backoff: Callable[[int], float] = field(default=lambda n: 2.0 * 2 ** n)

    @classmethod
    def from_config(cls, notify, backoff: Callable[[int, float], float]) -> "RetryPolicy":
        first = notify.retry_seconds
        return cls(notify.retries, notify.timeout_seconds, lambda n: backoff(n, first))


def deliver(endpoint: Endpoint, message: Message, policy: RetryPolicy,
            stop_by: Callable[[], float] = lambda: float("inf"),
            pause: Callable[[float], bool] | None = None,
            cutter: Cutter | None = None) -> Delivery:
    """Try until taken or given up. `stop_by()`: the monotonic time all must end by (a
    stopping daemon's budget); `pause(seconds)`: waits between tries, False to give up."""
    pause = pause or _sleep
    first_at, attempts, last = time.time(), 0, ""
    status = DeliveryStatus.FAILED
    for attempt in range(policy.retries + 1):
        deadline = min(time.monotonic() + policy.timeout, stop_by())
        if deadline <= time.monotonic():
            status = DeliveryStatus.CUT
            break
        attempts += 1
        try:
            last = endpoint.send(message, deadline, cutter)
            status = DeliveryStatus.DELIVERED
            break
        except DeliveryError as exc:
            last = str(exc)
        if time.monotonic() >= stop_by():
            status = DeliveryStatus.CUT
            break
        if attempt < policy.retries and not pause(policy.backoff(attempt)):
            status = DeliveryStatus.CUT if time.monotonic() >= stop_by() else status
            break
    return Delivery(message_id=message.id, event=message.event, summary=message.summary,
                    endpoint=endpoint.shown, attempts=attempts, status=status.value,
                    last_status=last, first_at=first_at, last_at=time.time())


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return True
