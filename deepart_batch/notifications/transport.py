"""One attempt at one endpoint, ending by its deadline however slowly the other side
answers: a timer shuts the socket down at the deadline (which ends any read in progress),
and a command is killed. `Cutter` lets a stopping notifier end the attempt in flight."""

from __future__ import annotations

import http.client
import socket
import subprocess
import threading
import time
import urllib.parse

USER_AGENT = "deepart-batch"
ANSWER_BYTES = 65536


class DeliveryError(Exception):
    """The endpoint did not take it. `status`: its HTTP code, or None (no answer)."""

    def __init__(self, text: str, status: int | None = None):
        super().__init__(text)
        self.status = status


class Cutter:
    """Holds how to end the attempt in flight (shut its socket, kill its command)."""

    def __init__(self):
        self._cut = None
        self.lock = threading.Lock()

    def arm(self, cut) -> None:
        with self.lock:
            self._cut = cut

    def disarm(self) -> None:
        with self.lock:
            self._cut = None

    def cut(self) -> None:
        with self.lock:
            cut = self._cut
        if cut is not None:
            try:
                cut()
            except OSError:
                pass


def post(url: str, body: bytes, headers: dict[str, str], deadline: float,
         cutter: Cutter | None = None) -> int:
    """POST `body`; the HTTP status when it is below 400, else DeliveryError. Errors never
    repeat the URL (its path may be a chat webhook's key): the caller names the endpoint."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeliveryError("no time left to deliver")
    parts = urllib.parse.urlsplit(url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname, parts.port, timeout=left)
    timed_out = threading.Event()

    def shut() -> None:
        timed_out.set()
        if conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    timer = threading.Timer(left, shut)
    timer.daemon = True
    if cutter:
        cutter.arm(shut)
    timer.start()
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("POST", path, body=body, headers={
            "Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
            **headers})
        response = conn.getresponse()
        response.read(ANSWER_BYTES)
    except (OSError, http.client.HTTPException) as exc:
        if timed_out.is_set():
            raise DeliveryError("no answer in time") from None
        raise DeliveryError(_words(exc)) from None
    finally:
        if cutter:
            cutter.disarm()
        timer.cancel()
        conn.close()
    if response.status >= 400:
        raise DeliveryError(f"answered HTTP {response.status} {response.reason}",
                            response.status)
    return response.status


def run_command(argv: list[str], body: bytes, deadline: float,
                cutter: Cutter | None = None) -> int:
    """Run `argv` with `body` on its stdin; 0, or DeliveryError with its exit and stderr."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeliveryError("no time left to deliver")
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, shell=False)
    except OSError as exc:
        raise DeliveryError(f"{argv[0]} could not start: {exc.strerror or exc}") from None
    if cutter:
        cutter.arm(proc.kill)
    try:
        _, err = proc.communicate(body, timeout=left)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise DeliveryError(f"{argv[0]} did not finish in time") from None
    finally:
        if cutter:
            cutter.disarm()
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip()[-300:]
        raise DeliveryError(f"{argv[0]} exited {proc.returncode}: {tail}")
    return 0


def _words(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens there)"
    if isinstance(exc, socket.gaierror):
        return "host name not found"
    if isinstance(exc, socket.timeout):
        return "timed out"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
