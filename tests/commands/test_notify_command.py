"""`deepart-batch notify secret` and `notify test`, and the notify config as `validate`
sees it: a malformed secret is refused with a clear message, and no secret (nor a chat
webhook's URL path, which is its credential) ever shows in validate, status, logs, the
gallery, reports or anything else the daemon writes."""

import base64
import json
import socket

import pytest
from standardwebhooks import Webhook

from support.boxes import Box
from support.boxes import run_in_process
from support.http_receiver import HttpReceiver
from deepart_batch.core.webhook_secret import WebhookSecret
from deepart_batch.errors import ConfigError
from deepart_batch.settings.config import load_config

CHAT_TOKEN = "slackTOKENxyz"


def _dead_url(path="/hook"):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def _secret_file(tmp_path, text=None):
    path = tmp_path / "notify.secret"
    path.write_text((text or WebhookSecret.new().text) + "\n")
    return path


def _forms(secret_text):
    """The secret as text and as its raw key in base64: neither may show anywhere."""
    key = WebhookSecret.parse(secret_text).key
    return [secret_text, secret_text[len("whsec_"):], base64.b64encode(key).decode()[:16]]


def test_notify_secret_prints_a_new_valid_secret_each_time(tmp_path):
    box = Box(tmp_path)
    a, b = (box.cli("notify", "secret") for _ in range(2))
    assert a.returncode == b.returncode == 0
    assert a.stdout != b.stdout and a.stdout.startswith("whsec_")
    assert len(WebhookSecret.parse(a.stdout).key) == 32


def test_notify_test_says_which_endpoint_answered_and_which_did_not(tmp_path):
    secret_file = _secret_file(tmp_path)
    secret = secret_file.read_text().strip()
    dead = _dead_url(f"/services/T0/B0/{CHAT_TOKEN}")
    with HttpReceiver(path="/hook") as live:
        box = Box(tmp_path, notify={"secret_file": str(secret_file), "timeout_seconds": 5,
                                    "endpoints": [{"url": live.url, "name": "signed hook"},
                                                  {"url": dead, "format": "slack"}]})
        res = box.cli("notify", "test", "--config", box.config)
    lines = res.stdout.splitlines()
    assert res.returncode == 1, res.stderr
    assert len(lines) == 2, lines
    assert lines[0].startswith("answered       signed hook (json http://127.0.0.1:")
    assert lines[0].endswith(": HTTP 204 (signed)")
    assert lines[1].startswith("did not answer slack http://127.0.0.1:")
    assert "connection refused" in lines[1]
    [request] = live.raw_requests
    event = Webhook(secret).verify(request.raw, request.headers)
    assert event["event"] == "notify_test"
    for text in [*_forms(secret), CHAT_TOKEN, "/services/"]:
        assert text not in res.stdout + res.stderr


def test_notify_test_exits_0_when_every_endpoint_answered(tmp_path):
    with HttpReceiver(path="/a") as a, HttpReceiver(path="/b") as b:
        box = Box(tmp_path, notify={"webhook": a.url,
                                    "endpoints": [{"url": b.url, "format": "teams"}]})
        res = box.cli("notify", "test", "--config", box.config)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "(unsigned: no secret)" in res.stdout.splitlines()[0]
    assert b.events[0]["attachments"][0]["content"]["type"] == "AdaptiveCard"


@pytest.mark.parametrize("notify, message", [
    ({"secret": "whsec_tooShort"}, "notify.secret: not a valid secret: the part after whsec_ "
                                   "decodes to"),
    ({"secret": "s3cr3t-without-prefix-1234567890"}, "does not start with whsec_"),
    ({"secret_env": "DEEPART_TEST_NOTIFY_SECRET_UNSET"},
     "the environment variable DEEPART_TEST_NOTIFY_SECRET_UNSET is not set"),
    ({"secret_file": "missing.secret"}, "missing.secret cannot be read (No such file"),
    ({"endpoints": [{"url": "https://hooks.slack.com/services/T/B/" + CHAT_TOKEN,
                     "format": "slack", "secret": "whsec_x"}]},
     "a slack endpoint is not signed (its URL is the credential); remove its secret"),
    ({"endpoints": [{"url": "ftp://x/" + CHAT_TOKEN}]}, "use an http:// or https:// URL"),
    ({"endpoints": [{"url": "https://x/", "format": "discord"}]}, "'discord' is not allowed"),
])
def test_validate_refuses_a_bad_notify_setting_without_showing_the_secret(tmp_path, notify,
                                                                          message):
    box = Box(tmp_path, notify=notify)
    res = box.cli("validate", "--config", box.config)
    assert res.returncode == 2 and message in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    for text in ("whsec_tooShort", "s3cr3t-without-prefix", CHAT_TOKEN):
        assert text not in res.stderr + res.stdout


def test_validate_notes_a_json_endpoint_that_goes_out_unsigned(tmp_path):
    box = Box(tmp_path, notify={"webhook": f"https://a.example/{CHAT_TOKEN}",
                                "endpoints": [{"url": "https://b.example/x", "format": "slack"}]})
    res = box.cli("validate", "--config", box.config)
    assert res.returncode == 0, res.stderr
    notes = [l for l in res.stderr.splitlines() if "is not signed" in l]
    assert len(notes) == 1 and "webhook (json https://a.example)" in notes[0], res.stderr
    assert CHAT_TOKEN not in res.stderr
    box.rewrite_config(notify={"secret_file": str(_secret_file(tmp_path))})
    assert "is not signed" not in box.cli("validate", "--config", box.config).stderr


def test_two_secrets_for_one_section_are_refused(tmp_path):
    box = Box(tmp_path, notify={"secret": WebhookSecret.new().text,
                                "secret_file": str(_secret_file(tmp_path))})
    with pytest.raises(ConfigError, match="notify: secret and secret_file are set together"):
        load_config(box.config)


def test_a_secret_from_the_environment_signs_json_endpoints_only(tmp_path, monkeypatch):
    secret = WebhookSecret.new()
    monkeypatch.setenv("NOTIFY_SECRET", secret.text)
    box = Box(tmp_path, notify={"secret_env": "NOTIFY_SECRET",
                                "webhook": f"https://a.example/{CHAT_TOKEN}",
                                "endpoints": [{"url": f"https://b.example/{CHAT_TOKEN}",
                                               "format": "slack"},
                                              {"url": "https://c.example/h",
                                               "secret": WebhookSecret.new().text}]})
    config = load_config(box.config)
    hooks = config.notify.all_endpoints()
    assert [e.format for e in hooks] == ["json", "slack", "json"]
    assert hooks[0].secret == secret and hooks[1].secret is None
    assert hooks[2].secret not in (None, secret)
    assert secret.text not in repr(config) and CHAT_TOKEN not in repr(config)


def test_the_old_single_webhook_config_still_loads_unsigned(tmp_path):
    box = Box(tmp_path, notify={"webhook": "https://a.example/hook", "retries": 1})
    [hook] = load_config(box.config).notify.all_endpoints()
    assert (hook.url, hook.format, hook.secret) == ("https://a.example/hook", "json", None)


def test_no_secret_shows_in_validate_status_logs_gallery_or_reports(tmp_path):
    secret_file = _secret_file(tmp_path)
    secret = secret_file.read_text().strip()
    slack = f"https://hooks.slack.com/services/T0/B0/{CHAT_TOKEN}"
    box = Box(tmp_path, canned=True,
              gallery={"enabled": True, "base_url": "https://share.example.com/out/"},
              notify={"secret_file": str(secret_file), "timeout_seconds": 1, "retries": 0,
                      "endpoints": [{"url": _dead_url(), "format": "json"},
                                    {"url": slack, "format": "slack"}]})
    box.drop("tubingen.jpg", "summer/a.jpg")
    (box.inbox / "summer" / "broken.jpg").write_bytes(b"not a photo")
    said = []
    for argv in (["validate"], ["run", "--once"], ["status"], ["status", "--json"],
                 ["gallery"]):
        res = run_in_process([*argv, "--config", str(box.config)])
        said.append(res.stdout + res.stderr)
    assert "OK" in said[0], said[0]
    files = [p for root in (box.outbox, box.state) for p in root.rglob("*") if p.is_file()]
    assert any(p.suffix == ".json" for p in files) and any(p.suffix == ".html" for p in files)
    for text in [*_forms(secret), CHAT_TOKEN]:
        for output in said:
            assert text not in output
        for path in files:
            assert text.encode() not in path.read_bytes(), path


def test_notify_log_shows_the_delivery_log(tmp_path):
    from deepart_batch.core.layout import StateLayout
    from deepart_batch.journal import Delivery, Journal
    box = Box(tmp_path)
    missing = box.cli("notify", "log", "--config", box.config)
    assert missing.returncode == 1 and "no journal" in missing.stderr
    journal = Journal(StateLayout(box.state).journal)
    for i, status in enumerate(["delivered", "failed"]):
        journal.record_delivery(Delivery(f"msg_{i}", "failed", f"p{i}.jpg failed", "json "
                                         "http://127.0.0.1:9", 1 + i, status,
                                         "connection refused" if i else "HTTP 204",
                                         1_700_000_000 + i, 1_700_000_000 + i))
    journal.record_delivery(Delivery("msg_1", "failed", "p1.jpg failed", "json "
                                     "http://127.0.0.1:9", 2, "failed", "HTTP 500",
                                     1_700_000_100, 1_700_000_100))   # a resend after restart
    journal.close()
    res = box.cli("notify", "log", "--config", box.config)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("2023-11-14T22:15:00+00:00  failed")
    assert "json http://127.0.0.1:9: 4 tries, HTTP 500  p1.jpg failed" in lines[0]
    assert "delivered" in lines[1] and "1 try, HTTP 204" in lines[1]
    only = box.cli("notify", "log", "--config", box.config, "--failed", "--json")
    assert [json.loads(l)["message_id"] for l in only.stdout.splitlines()] == ["msg_1"]
