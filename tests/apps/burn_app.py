"""A replica that burns CPU when asked: GET /burn starts a thread that spins on one core
until the process ends; GET /work?ms=N spends N ms of CPU on the request, then answers
(load that ends when the requests do); every other path names the replica. SIGTERM
exits at once."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

REPLICA = os.environ.get("REPLICA", "?")


def spin() -> None:
    while True:
        pass


def work(seconds: float) -> None:
    """Spend ``seconds`` of this thread's CPU time."""
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/burn":
            threading.Thread(target=spin, daemon=True).start()
            body = b"burning\n"
        elif url.path == "/work":
            work(float(parse_qs(url.query).get("ms", ["10"])[0]) / 1000)
            body = f"{REPLICA} worked\n".encode()
        else:
            body = f"{REPLICA}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
