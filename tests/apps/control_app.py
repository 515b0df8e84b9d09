"""A replica whose readiness and shutdown the tests control.

GET /healthz answers 200 only while ``$READY_DIR/<replica>`` exists (or READY_DIR is
unset); every other path names the replica. With IGNORE_TERM=1 it ignores SIGTERM.
"""

from __future__ import annotations

import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

REPLICA = os.environ.get("REPLICA", "?")
READY_DIR = os.environ.get("READY_DIR")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/healthz":
            ready = READY_DIR is None or os.path.exists(os.path.join(READY_DIR, REPLICA))
            status, body = (200, b"ok\n") if ready else (503, b"not ready\n")
        else:
            status, body = 200, f"{REPLICA}\n".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    if os.environ.get("IGNORE_TERM") == "1":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
