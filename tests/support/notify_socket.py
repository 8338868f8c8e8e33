"""One listener for the datagrams the daemon sends systemd: sd_notify's NOTIFY_SOCKET, or
journald's native socket (tests/ops/test_journald_fields.py reads `sock` itself)."""

from __future__ import annotations

import socket


class NotifyListener:
    """A bound AF_UNIX datagram socket; `path` may be a file path or "@name" (abstract).
    `address` is what NOTIFY_SOCKET should say. rcvbuf: a receive buffer size in bytes
    (SO_RCVBUF), for big datagrams sent before they are read."""

    def __init__(self, path, timeout: float = 0.2, rcvbuf: int | None = None):
        path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + path[1:] if path.startswith("@") else path)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.path = self.address = path
        self.messages: list[str] = []

    def recv(self, timeout: float | None = None) -> str:
        """The next datagram (socket.timeout when none arrives)."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        text = self.sock.recv(4096).decode()
        self.messages.append(text)
        return text

    def drain(self) -> list[str]:
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except (socket.timeout, BlockingIOError):
                return self.messages

    def has(self, text: str) -> list[str]:
        self.drain()
        return [m for m in self.messages if text in m.splitlines()]

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
