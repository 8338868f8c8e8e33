"""A hostile webhook on 127.0.0.1: it reads the request, then answers one byte every
`every` seconds, for as long as the client listens (each socket read gets a byte in time)."""

import socket
import threading
import time

ANSWER = b"HTTP/1.1 204 No Content\r\n" + b"X-Slow: " + b"." * 10_000 + b"\r\n\r\n"


class TrickleHook:
    def __init__(self, every: float = 2.0):
        self.every = every
        self.requests = 0
        self._stop = threading.Event()
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/hook"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:   # the request head, then its body
                    data += conn.recv(65536) or b"\r\n\r\n"
                head, _, body = data.partition(b"\r\n\r\n")
                length = next((int(l.split(b":")[1]) for l in head.split(b"\r\n")
                               if l.lower().startswith(b"content-length:")), 0)
                while len(body) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                self.requests += 1
                for i in range(len(ANSWER)):
                    if self._stop.wait(self.every if i else 0):
                        return
                    conn.sendall(ANSWER[i:i + 1])
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self.server.close()
