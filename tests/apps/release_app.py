"""A versioned replica for upgrade tests: every answer names the version it runs.

GET / answers ``hello from <replica> (version <TAG>, pid <pid>)``, like the example
app. GET /healthz answers 200 once READY_DELAY seconds have passed since start, and
never when TAG is listed in BROKEN_TAGS (a release that fails its readiness check).
GET /hold?s=N answers after N seconds, or as the replica stops (a request in flight the
tests keep open).
SIGTERM finishes the requests in flight (after STOP_DELAY seconds, a slow shutdown),
then exits.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPLICA = os.environ.get("REPLICA", "?")
VERSION = os.environ.get("TAG", "latest")
BROKEN = {t for t in os.environ.get("BROKEN_TAGS", "").split(",") if t}
STOPPING = threading.Event()
READY_AT = time.monotonic() + float(os.environ.get("READY_DELAY", "0"))
STOP_DELAY = float(os.environ.get("STOP_DELAY", "0"))


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/healthz":
            healthy = VERSION not in BROKEN and time.monotonic() >= READY_AT
            status, body = (200, b"ok\n") if healthy else (503, b"not ready\n")
        elif self.path.startswith("/hold?s="):
            STOPPING.wait(float(self.path.removeprefix("/hold?s=")))
            status, body = 200, f"held by {REPLICA}\n".encode()
        else:
            status = 200
            body = f"hello from {REPLICA} (version {VERSION}, pid {os.getpid()})\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
    server.daemon_threads = False

    def stop() -> None:
        STOPPING.set()
        time.sleep(STOP_DELAY)
        server.shutdown()

    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=stop).start())
    server.serve_forever()
    server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
