"""What notifications cost the trigger, and how soon one leaves.

- Trigger throughput with ten notifications (one matching every execution, so each
  trigger writes an outbox row and the loop posts it to a sink on loopback; nine that
  match nothing), beside the same trigger on a server with none, interleaved in one run.
- The time from a trigger's answer to its webhook arriving at the sink, beside a POST
  from this process straight to the same sink (the network floor).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from bench.common import Figure, median, percentile
from bench.loadgen import throughput
from bench.servers import UNLIMITED, scalehook, sleeper
from scalehook.testing import free_port


class _Sink:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.arrived: list[float] = []
        self.lock = threading.Condition()


@contextmanager
def sink() -> Iterator[_Sink]:
    state = _Sink()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with state.lock:
                state.arrived.append(time.monotonic())
                state.lock.notify_all()
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", state.port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _notify(server: Any, sink_url: str) -> None:
    for i in range(9):
        server.client.post(
            "/v1/notifications",
            json={
                "name": f"quiet-{i}",
                "type": "webhook",
                "url": f"{sink_url}/q",
                "on": {"service": "other", "result": "failed"},
            },
        ).raise_for_status()
    server.client.post(
        "/v1/notifications", json={"name": "all", "type": "webhook", "url": f"{sink_url}/all"}
    ).raise_for_status()


def throughputs(quick: bool) -> list[Figure]:
    runs = 2 if quick else 5
    seconds = 3.0 if quick else 6.0
    config = {"services": {"web": sleeper()}, "hooks": UNLIMITED}
    with sink() as receiving, scalehook(config) as plain, scalehook(config) as notifying:
        _notify(notifying, receiving.url)
        plain_url = plain.create_receiver("bench", service="web", action="up", max=1)["url"]
        url = notifying.create_receiver("bench", service="web", action="up", max=1)["url"]
        with_n: list[float] = []
        without: list[float] = []
        for _ in range(runs):  # interleaved, so both see the same neighbours
            measured = throughput(url, duration=seconds)
            assert measured.statuses_ok
            with_n.append(measured.per_second)
            measured = throughput(plain_url, duration=seconds)
            assert measured.statuses_ok
            without.append(measured.per_second)
    return [
        Figure(
            "trigger throughput, 10 notifications (1 matching)",
            median(with_n),
            "req/s",
            "trigger throughput, no notification",
            median(without),
            runs,
            "each trigger also writes an outbox row, which the loop posts to a loopback sink",
        )
    ]


def delay(quick: bool) -> list[Figure]:
    count = 20 if quick else 60
    config = {"services": {"web": sleeper()}, "hooks": UNLIMITED}
    delays: list[float] = []
    floor: list[float] = []
    with sink() as receiving, scalehook(config) as server, httpx.Client(timeout=30) as client:
        server.client.post(
            "/v1/notifications",
            json={"name": "all", "type": "webhook", "url": f"{receiving.url}/all"},
        ).raise_for_status()
        url = server.create_receiver("bench", service="web", action="up", max=1)["url"]
        for _ in range(count):
            with receiving.lock:
                before = len(receiving.arrived)
            assert client.post(url).status_code == 200
            answered = time.monotonic()
            with receiving.lock:
                while len(receiving.arrived) <= before:
                    receiving.lock.wait(30)
                delays.append((receiving.arrived[before] - answered) * 1000)
            began = time.monotonic()
            client.post(f"{receiving.url}/direct", content=b"{}").raise_for_status()
            floor.append((time.monotonic() - began) * 1000)
    return [
        Figure(
            "trigger answered → webhook at the sink, p50",
            percentile(delays, 50),
            "ms",
            "a POST straight to the sink, p50",
            percentile(floor, 50),
            count,
            f"p99 {percentile(delays, 99):.1f} ms",
        )
    ]


def run(quick: bool) -> list[Figure]:
    return throughputs(quick) + delay(quick)
