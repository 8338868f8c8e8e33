"""Standard Webhooks secrets and signatures: a whsec_ secret is checked and never shown;
the signature is the one the `standardwebhooks` library computes; message ids come from
what an event is about, so every try and a resend after a restart carry the same id."""

import base64
import time
from datetime import datetime, timezone

import pytest
from standardwebhooks import Webhook

from deepart_batch.core.webhook_secret import BadSecret, WebhookSecret
from deepart_batch.daemon.receivers.event_bodies import build_event
from deepart_batch.notifications.signing import message_id, signature, signed_headers

KEY = bytes(range(32))
TEXT = "whsec_" + base64.b64encode(KEY).decode()


def test_a_whsec_secret_parses_to_its_decoded_key_and_prints_as_where_it_came_from():
    secret = WebhookSecret.parse(TEXT + "\n", "notify.secret_file /etc/x")
    assert secret.key == KEY and secret.text == TEXT
    for shown in (repr(secret), str(secret), f"{secret}", repr([secret])):
        assert TEXT not in shown and base64.b64encode(KEY).decode() not in shown
        assert "notify.secret_file /etc/x" in shown


@pytest.mark.parametrize("text, why", [
    (base64.b64encode(KEY).decode(), "does not start with whsec_"),
    ("whsec_not*base64!", "not base64"),
    ("whsec_" + base64.b64encode(b"short").decode(), "decodes to 5 bytes"),
    ("whsec_" + base64.b64encode(bytes(65)).decode(), "decodes to 65 bytes"),
    (None, "not text"),
])
def test_a_malformed_secret_is_refused_without_repeating_it(text, why):
    with pytest.raises(BadSecret) as err:
        WebhookSecret.parse(text)
    assert why in str(err.value) and "deepart-batch notify secret" in str(err.value)
    if text:
        assert text not in str(err.value)


def test_new_secrets_are_random_and_parse_back():
    a, b = WebhookSecret.new(), WebhookSecret.new()
    assert a != b and WebhookSecret.parse(a.text) == a and len(a.key) == 32


def test_the_signature_is_the_standardwebhooks_librarys():
    secret = WebhookSecret(KEY)
    body = '{"event": "done", "photo": "caf\u00e9.jpg"}'.encode()
    ts = 1_700_000_000
    theirs = Webhook(TEXT).sign("msg_1", datetime.fromtimestamp(ts, timezone.utc), body)
    assert signature(secret, "msg_1", ts, body) == theirs
    headers = signed_headers(secret, "msg_1", body)
    assert Webhook(TEXT).verify(body, headers) == {"event": "done", "photo": "café.jpg"}
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 5


def test_without_a_secret_only_id_and_timestamp_are_sent():
    headers = signed_headers(None, "msg_1", b"{}")
    assert set(headers) == {"webhook-id", "webhook-timestamp"}


def test_the_message_id_is_the_events_identity_not_its_random_id_or_time():
    a = build_event("failed", photo="summer/a.jpg", campaign="summer", reason="unreadable")
    time.sleep(1.1)
    again = build_event("failed", photo="summer/a.jpg", campaign="summer", reason="unreadable")
    assert a["id"] != again["id"] and a["time"] != again["time"]
    assert message_id(a) == message_id(again)
    other = build_event("failed", photo="summer/b.jpg", campaign="summer", reason="unreadable")
    assert message_id(other) != message_id(a)
    assert message_id({**a, "key": "input 7 failed"}) == message_id({**other,
                                                                      "key": "input 7 failed"})
    assert message_id(a).startswith("msg_")
