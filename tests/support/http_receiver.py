"""One local HTTP receiver on 127.0.0.1 that can answer, fail, hang or trickle."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HttpReceiver:
    """Records each POST as (content type, JSON body) in `received`, bodies in `events`.

    fail: the first `fail` requests answer 500. hang: while this Event is set, requests
    block until `release` is set (a stuck endpoint). trickle: seconds to wait between the
    bytes of the answer (a slow endpoint). status: the answer's code when all is well.
    """

    def __init__(self, fail: int = 0, status: int = 204, trickle: float = 0.0,
                 path: str = "/events"):
        self.received: list[tuple[str, object]] = []
        self.fail, self.status, self.trickle = fail, status, trickle
        self.requests = self.blocked = 0
        self.hang, self.release = threading.Event(), threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests += 1
                if receiver.requests <= receiver.fail:
                    self.send_response(500)
                    self.end_headers()
                    return
                if receiver.hang.is_set():
                    receiver.blocked += 1
                    receiver.release.wait(120)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw
                receiver.received.append((self.headers["Content-Type"], body))
                answer = b"ok"
                self.send_response(receiver.status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                for byte in answer:
                    if receiver.trickle:
                        time.sleep(receiver.trickle)
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def events(self) -> list:
        """The JSON bodies received, in order."""
        return [body for _, body in self.received]

    def kinds(self, photo: str) -> list[str]:
        """The event kinds received about one photo, in order."""
        return [e["event"] for e in self.events if isinstance(e, dict) and e.get("photo") == photo]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
