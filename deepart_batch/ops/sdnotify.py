"""Talk to systemd's notify socket without libsystemd.

The protocol is one AF_UNIX datagram of newline-separated ``KEY=VALUE``
lines sent to ``$NOTIFY_SOCKET`` (see sd_notify(3)). Doing it by hand keeps
the daemon free of a C dependency, and lets it run unchanged outside systemd,
where every call is a no-op.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from loguru import logger

__all__ = ["Notifier", "watchdog_interval"]

_ENV_KEYS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def _socket_address(raw: str | None) -> str | None:
    """Map ``$NOTIFY_SOCKET`` to something ``sendto`` accepts.

    A leading '@' means the Linux abstract namespace, spelled with a NUL byte
    at the socket level. vsock addresses (systemd in VMs) are not supported.
    """
    if not raw:
        return None
    if raw.startswith("@"):
        return "\0" + raw[1:]
    if raw.startswith("/"):
        return raw
    logger.debug("sdnotify: ignoring unsupported NOTIFY_SOCKET {!r}", raw)
    return None


class Notifier:
    """Send state changes to systemd; silently does nothing when not under it.

    ``address`` overrides ``$NOTIFY_SOCKET``. ``unset_environment=True`` pops
    the notify/watchdog variables from ``os.environ`` so that worker processes
    do not inherit them (with ``NotifyAccess=main`` systemd would reject and
    log their messages anyway).
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        env: Mapping[str, str] | None = None,
        unset_environment: bool = False,
    ) -> None:
        env = os.environ if env is None else env
        self.address = _socket_address(address if address is not None else env.get("NOTIFY_SOCKET"))
        self._sock: socket.socket | None = None
        if unset_environment:
            for key in _ENV_KEYS:
                os.environ.pop(key, None)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *lines: str, **fields: object) -> bool:
        """Send raw ``"A=1\\nB=2"`` strings and/or ``KEY=value`` fields.

        Returns whether a datagram went out. Errors are logged at debug and
        swallowed: a daemon must not die because systemd restarted or the
        socket went away; systemd will notice missed pings on its own.
        """
        if self.address is None:
            return False
        parts = [line for line in lines if line]
        parts += [f"{key}={value}" for key, value in fields.items()]
        if not parts:
            return False
        payload = "\n".join(parts).encode("utf-8")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            # Never block the service loop: a full queue (systemd busy) drops this message.
            self._sock.sendto(payload, socket.MSG_DONTWAIT, self.address)
        except OSError as exc:
            logger.debug("sdnotify: send to {!r} failed: {}", self.address, exc)
            self.close()
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Tell systemd start-up is done; ``Type=notify`` waits for this."""
        if status is None:
            return self.send(READY=1)
        return self.send(READY=1, STATUS=_one_line(status))

    def status(self, text: str) -> bool:
        """Free-form line shown by ``systemctl status``."""
        return self.send(STATUS=_one_line(text))

    def watchdog(self) -> bool:
        """Keep-alive ping; must arrive at least every ``WatchdogSec``."""
        return self.send(WATCHDOG=1)

    def stopping(self) -> bool:
        """Say we are draining, so systemd shows 'deactivating' rather than a hang."""
        return self.send(STOPPING=1)

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for more time in the current start/stop phase (e.g. a long drain)."""
        return self.send(EXTEND_TIMEOUT_USEC=int(seconds * 1_000_000))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _one_line(text: str) -> str:
    # A newline would start a new KEY=VALUE assignment in the datagram.
    return " ".join(str(text).splitlines())


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """Seconds between watchdog pings, or None when no watchdog applies to us.

    systemd recommends pinging at half of ``WATCHDOG_USEC`` so that one late
    tick is not fatal. ``WATCHDOG_PID`` names the process the watchdog is
    meant for; a child that inherited the variables must not ping.
    """
    env = os.environ if env is None else env
    pid = env.get("WATCHDOG_PID")
    if pid:
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            return None
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    return usec / 2 / 1_000_000
