"""A stand-in for your app's metrics: serves ``app_load`` for Prometheus to scrape.

    python3 load_exporter.py 9100                         # serves /metrics on :9100
    curl -X POST -d 0.95 http://127.0.0.1:9100/load       # set the load: the alert fires
    curl -X POST -d 0.1 http://127.0.0.1:9100/load        # and resolves

The tests of the alert flow run this very file.
"""

from __future__ import annotations

import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_value = [0.0]
_lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != "/metrics":
            self._send(404, b"not found\n")
            return
        with _lock:
            value = _value[0]
        body = f"# HELP app_load Load of the app, 0..1\n# TYPE app_load gauge\napp_load {value}\n"
        self._send(200, body.encode(), "text/plain; version=0.0.4")

    def do_POST(self) -> None:
        if self.path != "/load":
            self._send(404, b"not found\n")
            return
        text = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        try:
            value = float(text)
        except ValueError:
            self._send(400, b"send a number\n")
            return
        with _lock:
            _value[0] = value
        self._send(200, f"app_load {value}\n".encode())

    def _send(self, status: int, body: bytes, kind: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9100
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()


if __name__ == "__main__":
    main()
