"""Trigger to running replicas on the real engines, against the engine alone.

For plain Docker and for Swarm: the time from a POST to a receiver's URL (scale up by
N) until all N new replicas run, read from the engine itself; and, in the same run,
the same scale done straight through the Engine API (Docker: N create+start with the
container's config known beforehand, four at a time as scalehook does; Swarm: one
service update). The two alternate, so drift on a shared machine hits both alike.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from tests.docker.conftest import WEB_IMAGE, build_images
from tests.docker.engine import TEST_LABEL, Engine

from bench.common import Figure, median
from scalehook.testing import ServerProcess

ROOT = Path(__file__).resolve().parents[1]
SERVICE_LABEL = "scalehook.service"


def _wait(predicate: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError("the engine did not converge in time")
        time.sleep(0.01)


def _timed(act: Callable[[], None], done: Callable[[], bool]) -> float:
    started = time.perf_counter()
    act()
    _wait(done)
    return time.perf_counter() - started


def _docker(engine: Engine, server: ServerProcess, prefix: str, runs: int, step: int) -> Figure:
    service = f"{prefix}-web"
    labels = {SERVICE_LABEL: service, TEST_LABEL: prefix}
    engine.run(f"{service}-1", WEB_IMAGE, labels=labels)
    up = server.create_receiver(
        f"{prefix}-docker", service=service, action="up", amount=step, max=99
    )

    def running() -> int:
        return sum(1 for r in engine.labelled(SERVICE_LABEL, service) if r["State"] == "running")

    def reset() -> None:
        server.client.post(f"/v1/services/docker/{service}/scale", json={"replicas": 1})
        _wait(lambda: len(engine.labelled(SERVICE_LABEL, service)) == 1)

    def direct() -> None:
        names = [f"{service}-d{secrets.token_hex(3)}" for _ in range(step)]
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda name: engine.run(name, WEB_IMAGE, labels=labels), names))

    def hook() -> None:
        httpx.post(up["url"], timeout=120).raise_for_status()

    hooked: list[float] = []
    straight: list[float] = []
    for run in range(runs):
        for kind in ("hook", "direct") if run % 2 == 0 else ("direct", "hook"):
            reset()
            took = _timed(hook if kind == "hook" else direct, lambda: running() == 1 + step)
            (hooked if kind == "hook" else straight).append(took)
    return Figure(
        name=f"docker: trigger to {step} new containers running",
        value=median(hooked) * 1000,
        unit="ms",
        baseline=f"Engine API: {step} create+start",
        baseline_value=median(straight) * 1000,
        runs=runs,
        note="scalehook inspects and clones the newest replica",
    )


def _swarm(
    engine: Engine, server: ServerProcess, prefix: str, network: str, runs: int, step: int
) -> Figure:
    name = f"{prefix}-svc"
    spec: dict[str, Any] = {
        "Name": name,
        "Labels": {TEST_LABEL: prefix},
        "TaskTemplate": {
            "ContainerSpec": {"Image": WEB_IMAGE, "Labels": {TEST_LABEL: prefix}},
            "RestartPolicy": {"Condition": "any"},
            "Networks": [{"Target": network}],
        },
        "Mode": {"Replicated": {"Replicas": 1}},
    }
    engine.create_service(spec)
    up = server.create_receiver(
        f"{prefix}-swarm", service=f"swarm/{name}", action="up", amount=step, max=99
    )

    def running() -> int:
        return engine.running_tasks(name)

    def reset() -> None:
        server.client.post(f"/v1/services/swarm/{name}/scale", json={"replicas": 1})
        _wait(lambda: len(engine.tasks(name)) == 1 and running() == 1)

    def direct() -> None:
        current = engine.service(name)
        body = current["Spec"]
        body["Mode"]["Replicated"]["Replicas"] = 1 + step
        engine.call(
            "POST",
            f"/services/{current['ID']}/update",
            params={"version": current["Version"]["Index"]},
            json=body,
        )

    def hook() -> None:
        httpx.post(up["url"], timeout=120).raise_for_status()

    hooked: list[float] = []
    straight: list[float] = []
    for run in range(runs):
        for kind in ("hook", "direct") if run % 2 == 0 else ("direct", "hook"):
            reset()
            took = _timed(hook if kind == "hook" else direct, lambda: running() == 1 + step)
            (hooked if kind == "hook" else straight).append(took)
    return Figure(
        name=f"swarm: trigger to {step} new tasks running",
        value=median(hooked) * 1000,
        unit="ms",
        baseline="Engine API: one service update",
        baseline_value=median(straight) * 1000,
        runs=runs,
        note="the engine's own scheduling dominates both",
    )


def run(quick: bool) -> list[Figure]:
    subprocess.run([str(ROOT / "scripts" / "engines")], check=True)
    engine = Engine()
    build_images(engine)
    prefix = f"shkbench{secrets.token_hex(2)}"
    engine.default_network = f"{prefix}-net"  # not docker0, which others may delete
    engine.network(engine.default_network, prefix)
    overlay = f"{prefix}-overlay"
    engine.network(overlay, prefix, driver="overlay")
    runs, step = (3, 2) if quick else (7, 4)
    config = {
        "backends": {"docker": {"type": "docker"}, "swarm": {"type": "swarm"}},
        "hooks": {"rate": 10000, "burst": 10000},
        "log_level": "warning",
    }
    with (
        tempfile.TemporaryDirectory(prefix="shk-bench-") as workdir,
        ServerProcess(Path(workdir), config) as server,
    ):
        try:
            return [
                _docker(engine, server, prefix, runs, step),
                _swarm(engine, server, prefix, overlay, runs, step),
            ]
        finally:
            engine.remove_everything(prefix)
            engine.close()


if __name__ == "__main__":
    print(json.dumps([f.__dict__ for f in run(quick=True)], indent=2, default=str))
