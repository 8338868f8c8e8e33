"""`deepart-batch notify`: make a signing secret, and send a test to every endpoint
(torch-free).

`notify log` shows the journal's delivery log. `notify secret` prints a new Standard Webhooks secret (whsec_...), to be stored in the file
that notify.secret_file names or in the variable notify.secret_env names; it is the one
place a secret is ever printed. `notify test` sends one signed test event to each
configured endpoint and says, one line each, which answered; exit 0 when all did, 1 when
any did not, 2 when the config is invalid.
"""

from __future__ import annotations

import socket
import sys
from datetime import datetime, timezone

from .console import PROG
from .options import add_config_option


def add_commands(sub) -> None:
    n = sub.add_parser("notify", help="make a notification signing secret, or test the "
                                      "notification endpoints")
    verbs = n.add_subparsers(dest="notify_command", required=True, metavar="VERB")
    s = verbs.add_parser("secret", help="print a new whsec_ signing secret (store it in the "
                                        "file notify.secret_file names)")
    s.set_defaults(func=cmd_secret)
    t = verbs.add_parser("test", help="send one signed test event to each endpoint of the "
                                      "config and say which answered")
    add_config_option(t)
    t.add_argument("--retries", type=int, default=0, metavar="N",
                   help="tries after the first for an endpoint that does not answer "
                        "(default 0; the daemon uses notify.retries)")
    t.set_defaults(func=cmd_test)
    g = verbs.add_parser("log", help="show the newest entries of the delivery log (what was "
                                     "sent where, how many tries, the last answer)")
    add_config_option(g)
    g.add_argument("--limit", type=int, default=20, metavar="N", help="entries (default 20)")
    g.add_argument("--failed", action="store_true", help="only messages given up on")
    g.add_argument("--json", action="store_true", help="one JSON object per line")
    g.set_defaults(func=cmd_log)


def cmd_secret(args) -> int:
    from ..core.webhook_secret import WebhookSecret
    print(WebhookSecret.new().text)
    return 0


def notify_test_event() -> dict:
    """What `notify test` sends: a notice of its own kind, so a receiver can tell it from
    real news; its id changes per run (each run is a new test)."""
    from ..core.states import DaemonEvent
    now = datetime.now(timezone.utc)
    return {"schema": 1, "event": DaemonEvent.NOTIFY_TEST.value,
            "key": f"notify-test {now.isoformat()}",
            "time": now.isoformat(timespec="seconds"), "box": socket.gethostname(),
            "campaign": None, "photo": None, "outputs": [], "jobs": [], "reason": None,
            "category": None, "todo": "",
            "message": "A test from deepart-batch: this endpoint receives the render box's "
                       "notifications."}


def cmd_test(args) -> int:
    from ..core.states import DeliveryStatus
    from ..daemon.schedule.policy import backoff
    from ..notifications.batching import Batch
    from ..notifications.delivery import Message, RetryPolicy, deliver, endpoints_from_config
    from ..notifications.formats import chat_body, json_body
    from ..notifications.signing import message_id
    from ..settings.config import load_config
    config = load_config(args.config)
    endpoints = endpoints_from_config(config.notify)
    if not endpoints:
        print(f"{PROG}: notify: no endpoint is configured (set notify.webhook, "
              f"notify.endpoints or notify.command in {args.config})", file=sys.stderr)
        return 1
    event = notify_test_event()
    policy = RetryPolicy(max(0, args.retries), config.notify.timeout_seconds,
                         lambda n: backoff(n, config.notify.retry_seconds))
    failed = 0
    for endpoint in endpoints:
        if endpoint.is_chat:
            body = chat_body(endpoint.format, Batch(None, [event]), config.gallery_base_url)
        else:
            body = json_body(event)
        result = deliver(endpoint, Message(message_id(event), event["event"], "test", body),
                         policy)
        if result.status == DeliveryStatus.DELIVERED.value:
            signed = " (signed)" if endpoint.signed else \
                (" (unsigned: no secret)" if endpoint.format == "json" else "")
            print(f"answered       {endpoint.shown}: {result.last_status}{signed}")
        else:
            failed += 1
            print(f"did not answer {endpoint.shown}: {result.last_status} "
                  f"({result.attempts} tr{'y' if result.attempts == 1 else 'ies'})")
    return 1 if failed else 0


def cmd_log(args) -> int:
    import json
    from pathlib import Path
    from ..core.layout import StateLayout
    from ..core.timefmt import iso
    from ..journal import open_reader
    from ..settings.config import load_config
    config = load_config(args.config)
    path = StateLayout(Path(config.state_dir)).journal
    try:
        reader = open_reader(path, timeout=5)
    except FileNotFoundError:
        print(f"{PROG}: notify: no journal at {path} yet (the daemon has not run)",
              file=sys.stderr)
        return 1
    try:
        rows = reader.deliveries(max(1, args.limit), "failed" if args.failed else None)
    finally:
        reader.close()
    for row in rows:
        if args.json:
            print(json.dumps(row.to_dict(), ensure_ascii=False))
        else:
            print(f"{iso(row.last_at)}  {row.status:<9} {row.event:<14} {row.endpoint}: "
                  f"{row.attempts} tr{'y' if row.attempts == 1 else 'ies'}, "
                  f"{row.last_status or '-'}  {row.summary}")
    return 0
