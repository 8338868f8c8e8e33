"""sd_notify over a real AF_UNIX datagram socket, as systemd would receive it."""

from __future__ import annotations

import os
import uuid

import pytest

from deepart_batch.ops.sdnotify import Notifier, watchdog_interval
from support.notify_socket import NotifyListener


@pytest.fixture
def listener(tmp_path, monkeypatch):
    """A bound datagram socket standing in for systemd's notify socket."""
    path = str(tmp_path / "notify.sock")
    sock = NotifyListener(path, timeout=2)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    yield sock
    sock.close()


def recv(listener: NotifyListener) -> str:
    return listener.recv()


def test_each_method_sends_exact_datagram(listener):
    n = Notifier()
    assert n.enabled
    assert n.ready() is True
    assert recv(listener) == "READY=1"
    n.status("rendering 3 jobs")
    assert recv(listener) == "STATUS=rendering 3 jobs"
    n.watchdog()
    assert recv(listener) == "WATCHDOG=1"
    n.stopping()
    assert recv(listener) == "STOPPING=1"
    n.extend_timeout(90)
    assert recv(listener) == "EXTEND_TIMEOUT_USEC=90000000"
    n.extend_timeout(0.5)
    assert recv(listener) == "EXTEND_TIMEOUT_USEC=500000"
    n.close()


def test_ready_with_status_and_newlines_are_flattened(listener):
    n = Notifier()
    n.ready(status="idle\nwatching inbox")
    assert recv(listener) == "READY=1\nSTATUS=idle watching inbox"


def test_generic_send_raw_and_fields(listener):
    n = Notifier()
    assert n.send("A=1\nB=2")
    assert recv(listener) == "A=1\nB=2"
    assert n.send(MAINPID=42, STATUS="ok")
    assert recv(listener) == "MAINPID=42\nSTATUS=ok"
    assert n.send("X=1", Y=2)
    assert recv(listener) == "X=1\nY=2"
    assert n.send() is False  # nothing to say: no empty datagram


def test_abstract_namespace_address(monkeypatch):
    name = f"deepart-test-{uuid.uuid4().hex}"
    sock = NotifyListener("@" + name, timeout=2)
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert Notifier().ready()
        assert recv(sock) == "READY=1"
    finally:
        sock.close()


def test_noop_when_notify_socket_unset(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    n = Notifier()
    assert not n.enabled
    assert n.ready() is False
    assert n.watchdog() is False


def test_explicit_address_and_env_mapping(tmp_path):
    path = str(tmp_path / "s")
    sock = NotifyListener(path, timeout=2)
    try:
        assert Notifier(env={"NOTIFY_SOCKET": path}).watchdog()
        assert recv(sock) == "WATCHDOG=1"
        assert Notifier(path, env={}).stopping()
        assert recv(sock) == "STOPPING=1"
    finally:
        sock.close()


def test_unsupported_address_is_ignored():
    assert not Notifier(env={"NOTIFY_SOCKET": "vsock:2:1234"}).enabled
    assert not Notifier(env={"NOTIFY_SOCKET": "relative/path"}).enabled


def test_send_to_vanished_socket_does_not_raise(listener):
    n = Notifier()
    assert n.ready()
    recv(listener)
    listener.close()
    os.unlink(os.environ["NOTIFY_SOCKET"])
    assert n.watchdog() is False  # logged at debug, swallowed
    assert n.status("still alive") is False


def test_recovers_when_socket_comes_back(tmp_path):
    path = str(tmp_path / "s")
    n = Notifier(path)
    assert n.ready() is False  # nothing listening yet
    sock = NotifyListener(path, timeout=2)
    try:
        assert n.ready()
        assert recv(sock) == "READY=1"
    finally:
        sock.close()


def test_unset_environment_hides_socket_from_children(listener, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    n = Notifier(unset_environment=True)
    assert "NOTIFY_SOCKET" not in os.environ and "WATCHDOG_USEC" not in os.environ
    assert n.ready()
    assert recv(listener) == "READY=1"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "60000000"}, 30.0),
        ({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": str(os.getpid())}, 0.5),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "junk"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "sixty"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval(env, expected):
    assert watchdog_interval(env) == expected


def test_watchdog_interval_reads_os_environ(monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "20000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert watchdog_interval() == 10.0
    monkeypatch.setenv("WATCHDOG_PID", "1" if os.getpid() != 1 else "2")
    assert watchdog_interval() is None
