"""The receivers docs/notifications.md shows really verify: its `standardwebhooks` check
and its standard-library `verify` accept a delivery the notifier signed and sent to a real
local receiver, and refuse a tampered body, a wrong secret and a stale timestamp."""

import re
import time

import pytest

from conftest import ROOT
from support.boxes import wait_for
from support.http_receiver import HttpReceiver
from deepart_batch.core.webhook_secret import WebhookSecret
from deepart_batch.daemon.receivers.event_bodies import build_event
from deepart_batch.notifications.delivery import Endpoint, RetryPolicy
from deepart_batch.notifications.notifier import Notifier
from deepart_batch.notifications.signing import signed_headers

DOC = ROOT / "docs" / "notifications.md"


def _snippet(defines: str):
    """The namespace of the doc's python block that defines `defines`."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    [code] = [b for b in blocks if f"def {defines}(" in b]
    namespace: dict = {}
    exec(compile(code, f"{DOC}:{defines}", "exec"), namespace)
    return namespace[defines]


@pytest.fixture(scope="module")
def delivery():
    secret = WebhookSecret.new()
    with HttpReceiver(path="/hook") as hook:
        n = Notifier([Endpoint("json", "doc hook", url=hook.url, secret=secret)],
                     policy=RetryPolicy(0, 5))
        n.emit(build_event("done", photo="c/a.jpg", campaign="c", outputs=["c/a.starry.jpg"]))
        wait_for(lambda: hook.raw_requests, timeout=30, what="the delivery")
        n.close(wait=2)
    return secret, hook.raw_requests[0]


@pytest.mark.parametrize("name", ["check", "verify"])
def test_the_documented_receivers_accept_a_real_delivery_and_refuse_forgeries(delivery, name):
    secret, request = delivery
    accepts = _snippet(name)
    assert accepts(secret.text, request.headers, request.raw)
    assert not accepts(secret.text, request.headers, request.raw + b" ")
    assert not accepts(WebhookSecret.new().text, request.headers, request.raw)
    stale = signed_headers(secret, request.headers["webhook-id"], request.raw,
                           now=time.time() - 301)
    assert not accepts(secret.text, stale, request.raw)
