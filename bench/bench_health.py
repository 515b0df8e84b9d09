"""Detection: a local replica hung (SIGSTOP) → marked unhealthy → its replacement ready,
against the floor ``unhealthy_threshold x interval + one replica start``.

A real ``scalehook serve`` runs two replicas of ``tests/apps/health_app.py`` with an
HTTP check (interval 1s, timeout 500ms, unhealthy_threshold 3). Each run stops one
replica and reads, from the audit trail and the replicas' samples, when scalehook
began to recreate it (it marks it unhealthy and acts in the same round) and when the
replacement became ready. The floor's start term is measured in the same run: the
same app started directly, until its port accepts. The hang lands anywhere in an
interval and the third failed check ends only at its timeout, so detection falls
between ``(threshold - 1) x interval + timeout`` and ``threshold x interval + timeout``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import Figure, median
from bench.servers import scalehook
from scalehook.testing import ServerProcess, free_port, wait_until

ROOT = Path(__file__).resolve().parents[1]
HEALTH_APP = ROOT / "tests" / "apps" / "health_app.py"
INTERVAL = 1.0
TIMEOUT = 0.5
THRESHOLD = 3
CHECK = {
    "http": "GET /healthz HTTP/1.0",
    "interval": f"{INTERVAL}s",
    "timeout": f"{TIMEOUT}s",
    "healthy_threshold": 1,
    "unhealthy_threshold": THRESHOLD,
    "backoff": "0s",
    "max_backoff": "0s",
    "max_recreations": 100,
}


def _service() -> dict[str, Any]:
    return {
        "command": [sys.executable, str(HEALTH_APP)],
        "replicas": 2,
        "port": free_port(),
        "readiness": {"tcp": True, "interval": "1s"},
        "stop_grace": "2s",
        "health": CHECK,
    }


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def one_start() -> float:
    """Seconds from spawning the app to its port accepting: one replica's start."""
    port = free_port()
    env = {**os.environ, "PORT": str(port), "REPLICA": "direct"}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, str(HEALTH_APP)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not _listening(port):
            time.sleep(0.002)
        return time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(10)


def _healthy(server: ServerProcess) -> list[dict[str, Any]]:
    replicas = server.service("web")["replicas"]
    good = [r for r in replicas if r["health"] and r["health"]["state"] == "healthy"]
    return good if len(good) == 2 and len(replicas) == 2 else []


def detect(server: ServerProcess) -> tuple[float, float]:
    """Hang one replica; (seconds to its recreation, seconds to its replacement ready)."""
    victim = wait_until(lambda: _healthy(server), timeout=60, what="two healthy replicas")[0]
    seen = {e["id"] for e in server.client.get("/v1/executions").json()}
    hung_at = datetime.now(UTC)
    os.kill(victim["pid"], signal.SIGSTOP)
    try:
        recreated = wait_until(
            lambda: [
                e
                for e in server.client.get("/v1/executions", params={"result": "recreated"}).json()
                if e["id"] not in seen
            ],
            timeout=60,
            what="the recreation",
        )[0]
        new = recreated["details"]["new_replica"]
        replacement: dict[str, Any] = wait_until(
            lambda: [
                r for r in server.service("web")["replicas"] if r["id"] == new and r["ready_since"]
            ],
            timeout=60,
            what="the replacement ready",
        )[0]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim["pid"], signal.SIGCONT)
    began = datetime.fromisoformat(recreated["started_at"])
    ready = datetime.fromisoformat(replacement["ready_since"])
    return (began - hung_at).total_seconds(), (ready - hung_at).total_seconds()


def run(quick: bool) -> list[Figure]:
    runs = 3 if quick else 9
    detected: list[float] = []
    replaced: list[float] = []
    starts: list[float] = []
    with scalehook({"services": {"web": _service()}}) as server:
        for _ in range(runs):  # interleaved with the direct starts
            found, ready = detect(server)
            detected.append(found * 1000)
            replaced.append(ready * 1000)
            starts.append(one_start() * 1000)
    start = median(starts)
    checks = THRESHOLD * INTERVAL * 1000
    shape = f"interval {INTERVAL:g}s, timeout {TIMEOUT:g}s, unhealthy_threshold {THRESHOLD}"
    return [
        Figure(
            "local: replica hung -> marked unhealthy, recreation begins",
            median(detected),
            "ms",
            "unhealthy_threshold x interval",
            checks,
            runs,
            f"{shape}; range {min(detected):,.0f}-{max(detected):,.0f} ms",
        ),
        Figure(
            "local: replica hung -> replacement ready",
            median(replaced),
            "ms",
            "threshold x interval + one replica start (measured)",
            checks + start,
            runs,
            f"one start (python health app, until its port accepts): {start:.0f} ms; "
            f"range {min(replaced):,.0f}-{max(replaced):,.0f} ms",
        ),
    ]
