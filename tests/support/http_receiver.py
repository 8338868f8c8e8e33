"""One local HTTP receiver on 127.0.0.1 that can answer, fail, hang, be slow or trickle:
the only HTTP server of tests and benchmarks."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# A trickled answer's head is padded so that, one byte every few seconds, it never ends
# within a test: only the client's own deadline ends the attempt.
TRICKLE_PAD = 10_000


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64


@dataclass(frozen=True)
class Request:
    """One POST as it arrived: its headers (names lower-cased) and its body's bytes, for
    checking a signature over exactly what was sent."""
    headers: dict
    raw: bytes


class HttpReceiver:
    """Records each POST as (content type, body) in `received`: the JSON bodies are
    `events`, in order; `raw_requests` keeps each one's headers and bytes. `requests`
    counts the requests read.

    fail: the first `fail` requests answer 500. hang: while this Event is set, requests
    block until `release` is set (a stuck endpoint). status: the answer's code when all is
    well. slow: seconds to wait between the bytes of the answer's body, the head sent at
    once (a slow endpoint). trickle: seconds between the bytes of the whole raw answer,
    its head (padded with TRICKLE_PAD bytes) included, the first byte at once (a hostile
    endpoint: each socket read gets a byte in time, the answer never ends); close() stops it.
    path: the path of `url`.
    """

    def __init__(self, fail: int = 0, status: int = 204, slow: float = 0.0,
                 trickle: float = 0.0, path: str = "/events"):
        self.received: list[tuple[str, object]] = []
        self.raw_requests: list[Request] = []
        self.fail, self.status, self.slow, self.trickle = fail, status, slow, trickle
        self.requests = self.blocked = 0
        self.hang, self.release = threading.Event(), threading.Event()
        self._stop = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests += 1
                receiver.raw_requests.append(
                    Request({k.lower(): v for k, v in self.headers.items()}, raw))
                if receiver.trickle:
                    receiver._record(self.headers["Content-Type"], raw)
                    return self._trickle()
                if receiver.requests <= receiver.fail:
                    self.send_response(500)
                    self.end_headers()
                    return
                if receiver.hang.is_set():
                    receiver.blocked += 1
                    receiver.release.wait(120)
                receiver._record(self.headers["Content-Type"], raw)
                # 204 and 304 carry no body: a client rightly closes without reading one
                answer = b"" if receiver.status in (204, 304) else b"ok"
                self.send_response(receiver.status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                for byte in answer:
                    if receiver.slow and receiver._stop.wait(receiver.slow):
                        return
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()

            def _trickle(self):
                code = HTTPStatus(receiver.status)
                answer = (f"HTTP/1.1 {code.value} {code.phrase}\r\n".encode()
                          + b"X-Slow: " + b"." * TRICKLE_PAD + b"\r\n\r\n")
                try:
                    for i in range(len(answer)):
                        if receiver._stop.wait(receiver.trickle if i else 0):
                            return
                        self.wfile.write(answer[i:i + 1])
                except OSError:            # the client gave up: that is the point
                    return
                finally:
                    self.close_connection = True

            def log_message(self, *args):
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _record(self, content_type: str, raw: bytes) -> None:
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
        self.received.append((content_type, body))

    @property
    def events(self) -> list:
        """The JSON bodies received, in order."""
        return [body for _, body in list(self.received)]

    def of(self, photo: str) -> list[dict]:
        """The events received about one photo, in order."""
        return [e for e in self.events if isinstance(e, dict) and e.get("photo") == photo]

    def kinds(self, photo: str) -> list[str]:
        """The event kinds received about one photo, in order."""
        return [e["event"] for e in self.of(photo)]

    def close(self) -> None:
        self._stop.set()
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
