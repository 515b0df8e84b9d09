"""Push to every replica rolled, on Swarm, against the same update issued directly.

The time from a Docker Hub push POSTed to a ``serviceUpgrade`` receiver until Swarm
says the update is completed and every task runs the new tag, read from the engine;
and, in the same run, the same rolling update (same update config, same number of
tasks) issued straight to the Engine API (``docker service update --image``) and
waited for the same way. Each roll goes to a new tag of the same image, so both do the
same work; the two alternate, so drift on a shared machine hits both alike.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from tests.docker.apps import APP, build_apps
from tests.docker.engine import TEST_LABEL, Engine
from tests.upgrades import bodies

from bench.common import Figure, median
from scalehook.testing import ServerProcess

ROOT = Path(__file__).resolve().parents[1]
SECOND = 1_000_000_000
BATCH = 2
MONITOR = 3  # seconds: health_timeout, so Swarm's Monitor: how long a new task may take
# to turn healthy (its first check runs after 1s), and how long Swarm watches after the
# last one before it says "completed"


def _rolled(engine: Engine, name: str, image: str) -> bool:
    service = engine.service(name)
    if (service.get("UpdateStatus") or {}).get("State") != "completed":
        return False
    tasks = engine.tasks(name)
    return bool(tasks) and all(
        t["Spec"]["ContainerSpec"]["Image"] == image and t["Status"]["State"] == "running"
        for t in tasks
    )


def _wait(
    engine: Engine,
    name: str,
    image: str,
    timeout: float = 300.0,
    failed: Callable[[], str | None] = lambda: None,
) -> None:
    deadline = time.monotonic() + timeout
    while not _rolled(engine, name, image):
        why = failed()
        if why is not None:
            raise RuntimeError(f"{name} did not roll to {image}: {why}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not roll to {image} in {timeout:g}s")
        time.sleep(0.05)


def _swarm(
    engine: Engine,
    server: ServerProcess,
    prefix: str,
    network: str,
    *,
    runs: int,
    replicas: int,
    tags: list[str],
) -> Figure:
    name = f"{prefix}-roll"
    update_config = {
        "Parallelism": BATCH,
        "Delay": 0,
        "FailureAction": "rollback",
        "Monitor": MONITOR * SECOND,
        "MaxFailureRatio": 0,
        "Order": "stop-first",
    }
    spec: dict[str, Any] = {
        "Name": name,
        "Labels": {TEST_LABEL: prefix},
        "TaskTemplate": {
            "ContainerSpec": {"Image": f"{APP}:1", "Labels": {TEST_LABEL: prefix}},
            "RestartPolicy": {"Condition": "any"},
            "Networks": [{"Target": network}],
        },
        "Mode": {"Replicated": {"Replicas": replicas}},
        "UpdateConfig": update_config,
        "RollbackConfig": {**update_config, "FailureAction": "pause"},
    }
    engine.create_service(spec)
    deadline = time.monotonic() + 120
    while engine.running_tasks(name) != replicas:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.1)
    receiver = server.create_receiver(
        f"{prefix}-push",
        driver="serviceUpgrade",
        selector={TEST_LABEL: prefix},
        batch_size=BATCH,
        batch_interval="0s",
        health_timeout=f"{MONITOR}s",
    )
    version = 10

    def next_image() -> str:
        nonlocal version
        version += 1
        engine.tag(f"{APP}:2", APP, str(version))  # a new tag of the same image
        tags.append(str(version))
        return str(version)

    def hook() -> float:
        tag = next_image()
        started = time.perf_counter()
        response = httpx.post(receiver["url"], json=bodies.dockerhub(APP, tag), timeout=60)
        response.raise_for_status()
        ident = response.json()["id"]

        def failed() -> str | None:
            done = server.client.get(f"/v1/executions/{ident}").json()
            if done["status"] == "done" and done["result"] != "upgraded":
                return f"{done['result']}: {done['message']}"
            return None

        _wait(engine, name, f"{APP}:{tag}", failed=failed)
        took = time.perf_counter() - started
        while server.client.get(f"/v1/executions/{ident}").json()["status"] != "done":
            time.sleep(0.05)  # let scalehook finish before the next roll
        return took

    def direct() -> float:
        tag = next_image()
        current = engine.service(name)
        body = current["Spec"]
        body["TaskTemplate"]["ContainerSpec"]["Image"] = f"{APP}:{tag}"
        started = time.perf_counter()
        engine.call(
            "POST",
            f"/services/{current['ID']}/update",
            params={"version": current["Version"]["Index"]},
            json=body,
        )
        _wait(engine, name, f"{APP}:{tag}")
        return time.perf_counter() - started

    hooked: list[float] = []
    straight: list[float] = []
    for run in range(runs):
        for kind in ("hook", "direct") if run % 2 == 0 else ("direct", "hook"):
            (hooked if kind == "hook" else straight).append(hook() if kind == "hook" else direct())
    return Figure(
        name=f"swarm: push to {replicas} tasks rolled ({BATCH} at a time)",
        value=median(hooked) * 1000,
        unit="ms",
        baseline="Engine API: one service update --image",
        baseline_value=median(straight) * 1000,
        runs=runs,
        note=f"until UpdateStatus completed ({MONITOR}s monitor) and every task runs the tag",
    )


def run(quick: bool) -> list[Figure]:
    subprocess.run([str(ROOT / "scripts" / "engines")], check=True)
    engine = Engine()
    build_apps(engine)
    prefix = f"shkbench{secrets.token_hex(2)}"
    overlay = f"{prefix}-overlay"
    engine.network(overlay, prefix, driver="overlay")
    runs, replicas = (2, 4) if quick else (5, 6)
    config = {
        "backends": {"swarm": {"type": "swarm"}},
        "hooks": {"rate": 10000, "burst": 10000},
        "log_level": "warning",
    }
    tags: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="shk-bench-") as workdir,
        ServerProcess(Path(workdir), config) as server,
    ):
        try:
            return [
                _swarm(engine, server, prefix, overlay, runs=runs, replicas=replicas, tags=tags)
            ]
        finally:
            engine.remove_everything(prefix)
            for tag in tags:  # untag only: the image stays as app:2
                engine.http.delete(f"/images/{APP}:{tag}")
            engine.close()


if __name__ == "__main__":
    print(json.dumps([f.__dict__ for f in run(quick=True)], indent=2, default=str))
