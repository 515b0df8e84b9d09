"""A replica that burns CPU when asked: GET /burn starts a thread that spins on one core
until the process ends; every other path names the replica. SIGTERM exits at once."""

from __future__ import annotations

import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPLICA = os.environ.get("REPLICA", "?")


def spin() -> None:
    while True:
        pass


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/burn":
            threading.Thread(target=spin, daemon=True).start()
            body = b"burning\n"
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
