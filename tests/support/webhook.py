"""A real webhook receiver on 127.0.0.1 that keeps every event the daemon posts."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class EventSink:
    def __init__(self):
        self.events: list[dict] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                sink.events.append(json.loads(self.rfile.read(
                    int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of(self, photo: str) -> list[dict]:
        return [e for e in list(self.events) if e.get("photo") == photo]

    def kinds(self, photo: str) -> list[str]:
        return [e["event"] for e in self.of(photo)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
