"""Sampling one service of N replicas (``Backend.samples``), against the bare reads.

- docker: the backend's samples of N containers (one listing, N one-shot stats calls at
  once, CPU% from the reading kept) against the same N
  ``/containers/{id}/stats?stream=false&one-shot=true`` calls made at once with httpx;
  and, beside them, the call ``stats()`` made before (``stream=false``: the engine
  waits for a second reading).
- local: the backend's samples of N processes (psutil: CPU times and memory of each and
  its children; the process table scanned once per half second) against a bare psutil
  loop over the same pids (CPU times and memory, no children).

Each sample is taken more than ``MIN_WINDOW`` after the one before, as a reader polling
every second would, so each one is a full reading. The kinds alternate.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import psutil
from tests.docker.conftest import WEB_IMAGE, build_images
from tests.docker.engine import TEST_LABEL, Engine

from bench.common import Figure, median
from scalehook.backends.docker import DockerBackend, DockerSettings
from scalehook.backends.docker.groups import REPLICA_LABEL, SERVICE_LABEL
from scalehook.backends.local import LocalBackend, LocalServiceSpec
from scalehook.backends.sampling import MIN_WINDOW

ROOT = Path(__file__).resolve().parents[1]
SOCKET = "/var/run/docker.sock"


async def _alternate(
    ours: Callable[[], Awaitable[object]],
    bare: Callable[[], Awaitable[object]],
    runs: int,
    *,
    prime: Callable[[], Awaitable[object]] | None = None,
) -> tuple[list[float], list[float]]:
    if prime is not None:
        await prime()  # the first sample of a replica has no CPU%: it primes the readings
    mine: list[float] = []
    theirs: list[float] = []
    for run in range(runs):
        for kind in ("ours", "bare") if run % 2 == 0 else ("bare", "ours"):
            await asyncio.sleep(MIN_WINDOW + 0.1)
            started = time.perf_counter()
            await (ours() if kind == "ours" else bare())
            (mine if kind == "ours" else theirs).append(time.perf_counter() - started)
    return mine, theirs


async def _docker(engine: Engine, prefix: str, count: int, runs: int) -> list[Figure]:
    service = f"{prefix}-web"
    ids = [
        engine.run(
            f"{service}-{n}",
            WEB_IMAGE,
            labels={SERVICE_LABEL: service, REPLICA_LABEL: str(n), TEST_LABEL: prefix},
        )
        for n in range(1, count + 1)
    ]
    backend = DockerBackend("docker", DockerSettings())
    await backend.start()
    transport = httpx.AsyncHTTPTransport(uds=SOCKET)
    version = engine.get("/version")["ApiVersion"]
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://docker") as bare:

            async def samples() -> None:
                found = await backend.samples(service=service)
                assert len(found) == count
                assert all(s.cpu_percent is not None for s in found)

            async def stats(params: dict[str, str]) -> None:
                answers = await asyncio.gather(
                    *(bare.get(f"/v{version}/containers/{c}/stats", params=params) for c in ids)
                )
                assert all(a.status_code == 200 for a in answers)

            one_shot = {"stream": "false", "one-shot": "true"}
            mine, theirs = await _alternate(
                samples,
                lambda: stats(one_shot),
                runs,
                prime=lambda: backend.samples(service=service),
            )
            before, _ = await _alternate(
                lambda: stats({"stream": "false"}), lambda: stats(one_shot), max(1, runs // 2)
            )
    finally:
        await backend.close()
    baseline = f"Engine API: {count} one-shot stats calls at once (httpx)"
    return [
        Figure(
            name=f"docker: samples of a service of {count} containers",
            value=median(mine) * 1000,
            unit="ms",
            baseline=baseline,
            baseline_value=median(theirs) * 1000,
            runs=runs,
            note="one listing + one one-shot stats call per container, at once",
        ),
        Figure(
            name=f"docker: {count} stats calls as stats() made them (stream=false)",
            value=median(before) * 1000,
            unit="ms",
            baseline=baseline,
            baseline_value=median(theirs) * 1000,
            runs=max(1, runs // 2),
            note="the engine waits for a second reading: what samples() replaces",
        ),
    ]


async def _local(workdir: Path, count: int, runs: int) -> Figure:
    spec = LocalServiceSpec.model_validate(
        {
            "command": [sys.executable, "-c", "import time; time.sleep(3600)"],
            "replicas": count,
        }
    )
    spec.name = "sleepers"
    backend = LocalBackend("local", {"sleepers": spec}, workdir)
    await backend.start()
    try:
        while len([r for r in await backend.replicas(service="sleepers") if r.pid]) < count:
            await asyncio.sleep(0.05)
        pids = [r.pid for r in await backend.replicas(service="sleepers") if r.pid]

        async def samples() -> None:
            found = await backend.samples(service="sleepers")
            assert len(found) == count
            assert all(s.cpu_percent is not None for s in found)

        async def bare() -> None:
            for pid in pids:
                process = psutil.Process(pid)
                process.cpu_times()
                process.memory_info()

        mine, theirs = await _alternate(
            samples, bare, runs, prime=lambda: backend.samples(service="sleepers")
        )
    finally:
        await backend.close()
    return Figure(
        name=f"local: samples of a service of {count} processes",
        value=median(mine) * 1000,
        unit="ms",
        baseline=f"psutil: CPU times + memory of the {count} pids",
        baseline_value=median(theirs) * 1000,
        runs=runs,
        note="includes the scan of the process table for children (shared, every 0.5 s)",
    )


def run(quick: bool) -> list[Figure]:
    subprocess.run([str(ROOT / "scripts" / "engines")], check=True)
    engine = Engine()
    build_images(engine)
    prefix = f"shkbench{secrets.token_hex(2)}"
    engine.default_network = f"{prefix}-net"
    engine.network(engine.default_network, prefix)
    runs, count = (3, 10) if quick else (9, 10)
    try:
        with tempfile.TemporaryDirectory(prefix="shk-bench-") as workdir:
            local = asyncio.run(_local(Path(workdir), count, runs))
        return [*asyncio.run(_docker(engine, prefix, count, runs)), local]
    finally:
        engine.remove_everything(prefix)
        engine.close()


if __name__ == "__main__":
    print(json.dumps([f.__dict__ for f in run(quick=True)], indent=2, default=str))
