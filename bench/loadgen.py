"""Load generators that are not the bottleneck.

- ``fixed_rate``: an open-loop asyncio client on raw sockets (keep-alive HTTP/1.1). The
  i-th request is due at ``start + i / rate``, and its latency is measured from that
  due time, so a server that falls behind is charged for the queue it builds
  (no coordinated omission). Its own cost is reported, to show it stays small.
- ``throughput``: ``wrk`` (C, epoll) when installed, else a closed-loop asyncio
  client like the one above. Requests per second over a fixed duration.
- ``closed_loop``: that asyncio client, always, over one URL or several (connections
  spread over them in turn): to compare one server with several on the same tool.

Given several URLs (several instances), ``fixed_rate`` spreads its connections over
them in turn, so each gets an equal share of the rate.
"""

from __future__ import annotations

import asyncio
import re
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class Latencies:
    seconds: list[float]
    statuses: dict[int, int]
    client_cpu: float  # CPU seconds the load generator itself used


@dataclass(frozen=True, slots=True)
class Throughput:
    per_second: float
    statuses_ok: bool
    tool: str


def _request(method: str, url: str) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    length = b"Content-Length: 0\r\n" if method == "POST" else b""
    raw = (
        f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n".encode()
        + length
        + b"Connection: keep-alive\r\n\r\n"
    )
    return host, port, raw


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> int:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    if match:
        await reader.readexactly(int(match.group(1)))
    return status


def _urls(url: str | Sequence[str]) -> list[str]:
    return [url] if isinstance(url, str) else list(url)


async def _fixed_rate(
    method: str, url: str | Sequence[str], rate: float, duration: float, connections: int
) -> Latencies:
    targets = [_request(method, u) for u in _urls(url)]
    opened = 0
    total = int(rate * duration)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    next_index = 0
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05

    async def worker() -> None:
        nonlocal next_index, opened
        host, port, raw = targets[opened % len(targets)]
        opened += 1
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while next_index < total:
                index = next_index
                next_index += 1
                due = start + index / rate
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                status = await _exchange(reader, writer, raw)
                latencies.append(loop.time() - due)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    cpu = time.process_time()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return Latencies(latencies, statuses, time.process_time() - cpu)


def fixed_rate(
    url: str | Sequence[str],
    *,
    rate: float,
    duration: float,
    method: str = "POST",
    connections: int = 32,
) -> Latencies:
    """Send ``rate`` requests per second for ``duration`` seconds; return every latency."""
    return asyncio.run(_fixed_rate(method, url, rate, duration, connections))


async def _closed_loop(
    method: str, url: str | Sequence[str], duration: float, connections: int
) -> Throughput:
    targets = [_request(method, u) for u in _urls(url)]
    opened = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + duration
    done = 0
    ok = True

    async def worker() -> None:
        nonlocal done, ok, opened
        host, port, raw = targets[opened % len(targets)]
        opened += 1
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while loop.time() < deadline:
                status = await _exchange(reader, writer, raw)
                ok = ok and status < 300
                done += 1
        finally:
            writer.close()

    started = loop.time()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return Throughput(done / (loop.time() - started), ok, "asyncio")


def closed_loop(
    url: str | Sequence[str], *, duration: float, method: str = "POST", connections: int = 16
) -> Throughput:
    """Requests per second that ``connections`` busy asyncio clients get, spread over
    ``url`` (one or several)."""
    return asyncio.run(_closed_loop(method, url, duration, connections))


def throughput(
    url: str, *, duration: float, method: str = "POST", connections: int = 16
) -> Throughput:
    """Requests per second a server sustains with ``connections`` busy clients."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return asyncio.run(_closed_loop(method, url, duration, connections))
    seconds = max(1, round(duration))  # wrk takes whole seconds
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "method.lua"
        script.write_text(f'wrk.method = "{method}"\n')
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(
            [
                wrk,
                "-t1",
                f"-c{connections}",
                f"-d{seconds}s",
                "-s",
                str(script),
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    rps = float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))  # type: ignore[union-attr]
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return Throughput(rps, "Non-2xx" not in out, f"wrk ({cpu / seconds:.0%} of a core)")
