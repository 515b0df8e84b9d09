"""A replica whose health the tests control.

- ``GET /healthz``: 200, or what the file ``$HEALTH_DIR/<replica>`` holds (a status
  such as ``500``) when it exists, else what ``$HEALTH_DIR/all`` holds; 500 always
  with ``ALWAYS_FAIL=1``; 500 once ``FAIL_AFTER`` seconds have passed since the start.
- ``GET /slow?s=N``: answers after N seconds (a long request, for draining).
- any other path: ``<replica> <pid>``.

Threaded, so a slow request does not hold up the checks. SIGTERM exits at once
(whatever is in flight is cut: only draining saves it).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

REPLICA = os.environ.get("REPLICA", "?")
HEALTH_DIR = os.environ.get("HEALTH_DIR")
ALWAYS_FAIL = os.environ.get("ALWAYS_FAIL") == "1"
FAIL_AFTER = float(os.environ.get("FAIL_AFTER") or "0")
STARTED = time.monotonic()


def health_status() -> int:
    if ALWAYS_FAIL or (FAIL_AFTER and time.monotonic() - STARTED > FAIL_AFTER):
        return 500
    for name in (REPLICA, "all"):
        if not HEALTH_DIR:
            break
        try:
            with open(os.path.join(HEALTH_DIR, name)) as file:
                return int(file.read().strip() or "500")
        except (FileNotFoundError, ValueError):
            continue
    return 200


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path == "/healthz":
            status = health_status()
            body = b"ok\n" if status == 200 else b"failing\n"
        elif url.path == "/slow":
            time.sleep(float(parse_qs(url.query).get("s", ["1"])[0]))
            status, body = 200, f"{REPLICA} {os.getpid()} slow\n".encode()
        else:
            status, body = 200, f"{REPLICA} {os.getpid()}\n".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
    server.daemon_threads = True
    sys.stdout.flush()
    server.serve_forever()
