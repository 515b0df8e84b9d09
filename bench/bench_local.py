"""The local backend: from a trigger to 16 new replicas ready, against starting the
same 16 processes directly and waiting for their ports (the floor: process start-up).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx

from bench.common import Figure, median
from bench.servers import EXAMPLE_APP, scalehook
from scalehook.testing import free_port

REPLICAS = 16


def _service() -> dict[str, object]:
    return {
        "command": [sys.executable, str(EXAMPLE_APP), "{port}"],
        "replicas": 0,
        "readiness": {"tcp": True, "interval": "1s"},
        "stop_grace": "2s",
    }


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def direct() -> float:
    """Seconds to start 16 app processes and see all their ports accept."""
    ports = [free_port() for _ in range(REPLICAS)]
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            [sys.executable, str(EXAMPLE_APP), str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    try:
        waiting = set(ports)
        while waiting:
            waiting = {port for port in waiting if not _listening(port)}
            if waiting:
                time.sleep(0.005)
        return time.perf_counter() - started
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(10)


def through_scalehook() -> float:
    """Seconds from a trigger's POST to 16 replicas ready, as the API reports them."""
    with scalehook({"services": {"web": _service()}}) as server:
        up = server.create_receiver("up", service="web", action="up", amount=REPLICAS, min=0)
        with httpx.Client(base_url=server.url, headers=server.client.headers) as client:
            started = time.perf_counter()
            assert httpx.post(up["url"]).json()["after"] == REPLICAS
            while client.get("/v1/services").json()[0]["ready"] < REPLICAS:  # no stats
                time.sleep(0.005)
            return time.perf_counter() - started


def run(quick: bool) -> list[Figure]:
    runs = 2 if quick else 5
    mine: list[float] = []
    floor: list[float] = []
    for _ in range(runs):  # interleaved, so both see the same neighbours
        mine.append(through_scalehook() * 1000)
        floor.append(direct() * 1000)
    return [
        Figure(
            f"local: trigger -> {REPLICAS} replicas ready",
            median(mine),
            "ms",
            f"{REPLICAS} processes started directly",
            median(floor),
            runs,
            "tcp readiness; python example app",
        )
    ]
