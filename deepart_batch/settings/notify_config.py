"""The config's `notify:` section: where the team's notifications go, in which format, and
the secret that signs them (Standard Webhooks 1.0).

Kept apart from config.py because it carries secrets: every message here names the key and
says what is wrong without ever repeating a secret, and a URL is shown as its scheme and host
only (a Slack or Teams webhook URL is itself the credential). A secret comes from
`secret` (inline), `secret_file` (a file holding it) or `secret_env` (the name of an
environment variable), once for the whole section or per endpoint; it is read and checked
when the config loads, so `validate` refuses a malformed one.
"""

from __future__ import annotations

import os
import re
import shlex
import urllib.parse
from dataclasses import dataclass, fields

from ..core.states import DaemonEvent
from ..core.webhook_secret import BadSecret, WebhookSecret
from .yamlcheck import (BadValue, choices, integer, nonempty, optional, abspath, seconds,
                        setting)

NOTIFY_EVENTS = (DaemonEvent.PHOTO_DONE, DaemonEvent.PHOTO_FAILED, DaemonEvent.PHOTO_HELD,
                 DaemonEvent.PHOTO_RELEASED, DaemonEvent.PRINT_READY, DaemonEvent.CARD_READY,
                 DaemonEvent.PASS_FINISHED, DaemonEvent.FOLDER_MISSING,
                 DaemonEvent.FOLDER_BACK)   # core.states.NOTICES, in the order docs list them
FORMATS = ("json", "slack", "teams")     # json: signed; slack, teams: their URL is the key
CHAT_FORMATS = ("slack", "teams")
SECRET_KEYS = ("secret", "secret_file", "secret_env")
ENDPOINT_KEYS = ("url", "format", "name", *SECRET_KEYS)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def shown_url(url: str) -> str:
    """scheme://host[:port] of a URL: what logs, status and messages may show of it."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(not a URL)"
    return f"{parts.scheme}://{host}{port}"


def _url(v, _base) -> str:
    if not nonempty(v) or not re.match(r"https?://[^\s/]+", v):
        shown = shown_url(v) if isinstance(v, str) else type(v).__name__
        raise BadValue(f"{shown} is not allowed; use an http:// or https:// URL")
    try:
        urllib.parse.urlsplit(v).port
    except ValueError:
        raise BadValue(f"{shown_url(v)}... has a bad port; use an http:// or https:// URL") \
            from None
    return v


def _command(v, _base) -> list[str]:
    try:
        argv = shlex.split(v) if isinstance(v, str) else v
    except ValueError as exc:
        raise BadValue(f"{v!r} is not a valid command ({exc})") from None
    if not isinstance(argv, list) or not argv or not all(map(nonempty, argv)):
        raise BadValue(f"{v!r} is not allowed; use a program and its arguments, as a string "
                       f"or a list (the event JSON comes on its stdin)")
    return list(argv)


def _events(v, _base) -> list[str]:
    if not isinstance(v, list) or not v or any(e not in NOTIFY_EVENTS for e in v):
        raise BadValue(f"{v!r} is not allowed; use a list of {choices(NOTIFY_EVENTS)}")
    return list(v)


def _format(v, _base) -> str:
    if v not in FORMATS:
        raise BadValue(f"{v!r} is not allowed; use {choices(FORMATS)}")
    return v


def _inline_secret(v, _base) -> WebhookSecret:
    try:
        return WebhookSecret.parse(v, "notify.secret")
    except BadSecret as exc:
        raise BadValue(f"not a valid secret: {exc}") from None


def _secret_file(v, base) -> WebhookSecret:
    if not nonempty(v):
        raise BadValue("is not allowed; use the path of a file holding a whsec_ secret")
    path = abspath(v, base)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not text"
        raise BadValue(f"{path} cannot be read ({why}); make it readable by the service's "
                       f"user, or write one with `deepart-batch notify secret > {path}`") \
            from None
    try:
        return WebhookSecret.parse(text, f"notify secret_file {path}")
    except BadSecret as exc:
        raise BadValue(f"{path} does not hold a valid secret: {exc}") from None


def _secret_env(v, _base) -> WebhookSecret:
    if not isinstance(v, str) or not _ENV_NAME.fullmatch(v):
        raise BadValue(f"{v!r} is not allowed; use the name of an environment variable, "
                       f"like NOTIFY_SECRET")
    if v not in os.environ:
        raise BadValue(f"the environment variable {v} is not set; set it for the service "
                       f"(systemd: Environment= or EnvironmentFile=) to a whsec_ secret")
    try:
        return WebhookSecret.parse(os.environ[v], f"environment variable {v}")
    except BadSecret as exc:
        raise BadValue(f"the environment variable {v} does not hold a valid secret: {exc}") \
            from None


_SECRET_PARSERS = {"secret": _inline_secret, "secret_file": _secret_file,
                   "secret_env": _secret_env}


@dataclass(frozen=True)
class EndpointConfig:
    """One place notifications go. `secret` signs json deliveries; chat formats have none."""
    url: str
    format: str = "json"
    name: str = ""
    secret: WebhookSecret | None = None

    @property
    def shown(self) -> str:
        """How logs, the delivery log and `notify test` name it: never the secret or the
        URL's path (a chat URL is the credential)."""
        where = f"{self.format} {shown_url(self.url)}"
        return f"{self.name} ({where})" if self.name else where

    def __repr__(self) -> str:
        return f"EndpointConfig({self.shown}{', signed' if self.secret else ''})"


def _one_secret(item: dict, base, where: str, problems: list[str]) -> WebhookSecret | None:
    given = [k for k in SECRET_KEYS if item.get(k) is not None]
    if len(given) > 1:
        problems.append(f"{where}: {' and '.join(given)} are both set; keep one")
        return None
    for key in given:
        try:
            return _SECRET_PARSERS[key](item[key], base)
        except BadValue as exc:
            problems.append(f"{where}.{key}: {exc}")
    return None


def _endpoints(v, base) -> list[EndpointConfig]:
    if not isinstance(v, list):
        raise BadValue("is not allowed; use a list of mappings with url, format (json, "
                       "slack or teams) and, for json, one of secret_file, secret_env, secret")
    out, problems = [], []
    for i, item in enumerate(v):
        where = f"[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: expected a mapping with url and format, got "
                            f"{type(item).__name__}")
            continue
        unknown = [k for k in item if k not in ENDPOINT_KEYS]
        for key in unknown:
            problems.append(f"{where}.{key}: unknown key; allowed: {', '.join(ENDPOINT_KEYS)}")
        try:
            url = _url(item.get("url"), base)
        except BadValue as exc:
            problems.append(f"{where}.url: {exc}")
            url = None
        fmt = item.get("format", "json")
        if fmt not in FORMATS:
            problems.append(f"{where}.format: {fmt!r} is not allowed; use {choices(FORMATS)}")
        name = item.get("name", "")
        if not isinstance(name, str):
            problems.append(f"{where}.name: use a short text")
        secret = _one_secret(item, base, where, problems)
        if fmt in CHAT_FORMATS and any(item.get(k) is not None for k in SECRET_KEYS):
            problems.append(f"{where}: a {fmt} endpoint is not signed (its URL is the "
                            f"credential); remove its secret")
        if url and fmt in FORMATS and isinstance(name, str) and not unknown:
            out.append(EndpointConfig(url, fmt, name, secret))
    if problems:
        raise BadValue("; ".join(problems))
    return out


@dataclass
class NotifyConfig:
    webhook: str | None = setting(optional(_url), None)          # one json endpoint, as before
    command: list[str] | None = setting(optional(_command), None)  # event JSON on stdin
    endpoints: list[EndpointConfig] = setting(_endpoints, factory=list)
    # signs every json endpoint without a secret of its own; one of the three
    secret: WebhookSecret | None = setting(optional(_inline_secret), None)
    secret_file: WebhookSecret | None = setting(optional(_secret_file), None)
    secret_env: WebhookSecret | None = setting(optional(_secret_env), None)
    events: list[str] = setting(_events, factory=lambda: list(NOTIFY_EVENTS))
    timeout_seconds: float = setting(seconds(), 10.0)
    retries: int = setting(integer(0, 20), 3)
    retry_seconds: float = setting(seconds(), 2.0)    # first backoff, then doubling
    log_every_seconds: float = setting(seconds(), 300.0)  # a broken endpoint: one log line per
    batch_seconds: float = setting(seconds(positive=False), 10.0)  # chat: photos gathered
    batch_lines: int = setting(integer(1, 40), 15)    # chat: photo lines in one message
    queue_size: int = setting(integer(1), 1000)       # then the oldest events are dropped

    def __repr__(self) -> str:
        """Without URLs' paths or secrets: a config may be logged whole."""
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.webhook:
            shown["webhook"] = shown_url(self.webhook) + "/..."
        return "NotifyConfig(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"

    @property
    def signing_secret(self) -> WebhookSecret | None:
        return self.secret or self.secret_file or self.secret_env

    def all_endpoints(self) -> list[EndpointConfig]:
        """`webhook` (json) first, then `endpoints`; json ones without their own secret
        take the section's."""
        listed = ([EndpointConfig(self.webhook, "json", "webhook")] if self.webhook else []) \
            + list(self.endpoints)
        shared = self.signing_secret
        return [EndpointConfig(e.url, e.format, e.name, shared)
                if e.format == "json" and e.secret is None and shared else e for e in listed]


def unsigned_notes(notify: NotifyConfig) -> list[str]:
    """For `validate`: json endpoints that go out unsigned (allowed, as before secrets)."""
    return [f"notify: {e.shown} is not signed, so its receiver cannot tell real events from "
            f"forged ones; set notify.secret_file (make a secret with `deepart-batch notify "
            f"secret`; see docs/notifications.md)"
            for e in notify.all_endpoints() if e.format == "json" and e.secret is None]


def notify_problems(data: object) -> list[str]:
    """What the section's keys get wrong together (a field parser sees one key)."""
    if not isinstance(data, dict):
        return []
    given = [k for k in SECRET_KEYS if data.get(k) is not None]
    return [f"notify: {' and '.join(given)} are set together; keep one"] \
        if len(given) > 1 else []


__all__ = ["NotifyConfig", "EndpointConfig", "NOTIFY_EVENTS", "FORMATS", "CHAT_FORMATS",
           "notify_problems", "shown_url", "unsigned_notes"]
