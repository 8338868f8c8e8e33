"""One listener for sd_notify datagrams, standing in for systemd's NOTIFY_SOCKET."""

from __future__ import annotations

import socket


class NotifyListener:
    """A bound AF_UNIX datagram socket; `path` may be a file path or "@name" (abstract).
    `address` is what NOTIFY_SOCKET should say."""

    def __init__(self, path, timeout: float = 0.2):
        path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + path[1:] if path.startswith("@") else path)
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
