"""Backend.recreate and Backend.samples on the real engine: plain Docker containers and
Swarm tasks on the one-node Swarm, driven through the backends directly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest

from scalehook.backends.base import ReplicaSample
from scalehook.backends.docker import DockerBackend, DockerSettings
from scalehook.backends.docker.groups import REPLACES_LABEL, REPLICA_LABEL, SERVICE_LABEL
from scalehook.backends.sampling import MIN_WINDOW
from scalehook.backends.swarm import SwarmBackend, SwarmSettings
from scalehook.errors import Conflict, NotRecreatable, ReplicaNotFound, ServiceNotFound
from scalehook.testing import free_port, wait_until
from tests.docker.apps import Sampler, ready
from tests.docker.conftest import HEALTH_IMAGE, WEB_IMAGE
from tests.docker.engine import TEST_LABEL, Engine
from tests.docker.test_swarm_scaling import service_spec

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("images")]

MIB = 1024 * 1024
SPIN = ["sh", "-c", "trap 'exit 0' TERM; while :; do :; done"]
T = TypeVar("T")


async def until(check: Callable[[], Awaitable[T | None]], *, timeout: float = 60.0) -> T:
    async with asyncio.timeout(timeout):
        while not (value := await check()):
            await asyncio.sleep(0.1)
        return value


@pytest.fixture
async def docker() -> AsyncIterator[DockerBackend]:
    backend = DockerBackend("docker", DockerSettings(stop_grace=2))
    await backend.start()
    yield backend
    await backend.close()


@pytest.fixture
async def swarm() -> AsyncIterator[SwarmBackend]:
    backend = SwarmBackend("swarm", SwarmSettings())
    await backend.start()
    yield backend
    await backend.close()


def replica_labels(service: str, number: int, prefix: str) -> dict[str, str]:
    return {SERVICE_LABEL: service, REPLICA_LABEL: str(number), TEST_LABEL: prefix}


def ready_rows(engine: Engine, service: str) -> int:
    """Containers running, and healthy if they have a HEALTHCHECK."""
    rows = engine.labelled(SERVICE_LABEL, service)
    return sum(1 for r in rows if (r["State"] == "running" and "(" not in r["Status"]) or ready(r))


# plain Docker ------------------------------------------------------------------------


async def test_recreate_starts_a_clone_first_and_removes_the_old_container(
    engine: Engine, prefix: str, docker: DockerBackend
) -> None:
    service = f"{prefix}-web"
    limits = {"NanoCpus": 500_000_000, "Memory": 64 * MIB}
    for number in (1, 2):
        engine.run(
            f"{service}-{number}",
            HEALTH_IMAGE,
            labels=replica_labels(service, number, prefix),
            host_config=limits,
        )
    wait_until(lambda: ready_rows(engine, service) == 2, what="two healthy containers")
    old = engine.inspect(f"{service}-1")

    with Sampler(lambda: ready_rows(engine, service)) as healthy:
        new = await docker.recreate(service=service, replica=f"{service}-1")

    assert min(healthy.samples) >= 2  # start-first: never fewer ready than desired
    assert new.id == f"{service}-3" and new.ready and new.image == HEALTH_IMAGE
    rows = engine.labelled(SERVICE_LABEL, service)
    assert [r["Names"][0][1:] for r in rows] == [f"{service}-2", f"{service}-3"]
    assert old["Id"] not in {r["Id"] for r in rows}  # stopped and removed
    clone = engine.inspect(f"{service}-3")
    assert clone["Config"]["Labels"][REPLACES_LABEL] == old["Id"]
    assert (clone["HostConfig"]["NanoCpus"], clone["HostConfig"]["Memory"]) == (
        500_000_000,
        64 * MIB,
    )
    assert (await docker.get_service(service=service)).desired == 2
    assert "hello from" in engine.exec(clone["Id"], ["wget", "-q", "-O-", "http://127.0.0.1:8080/"])

    with pytest.raises(ReplicaNotFound, match=f"{service}-2, {service}-3"):
        await docker.recreate(service=service, replica=f"{service}-1")
    with pytest.raises(ServiceNotFound):
        await docker.recreate(service=f"{prefix}-nope", replica="x")


async def test_recreate_of_a_fixed_host_port_stops_first(
    engine: Engine, prefix: str, docker: DockerBackend
) -> None:
    service = f"{prefix}-web"
    port = free_port()
    binding = {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    engine.run(
        f"{service}-1",
        WEB_IMAGE,
        labels=replica_labels(service, 1, prefix),
        host_config={"PortBindings": binding},
    )
    wait_until(lambda: ready_rows(engine, service) == 1)
    old = engine.inspect(f"{service}-1")
    page = await asyncio.to_thread(wait_until, lambda: _page(port))
    assert page is not None and old["Config"]["Hostname"] in page

    new = await docker.recreate(service=service, replica=f"{service}-1")

    clone = engine.inspect(new.id)
    assert clone["Id"] != old["Id"] and len(engine.labelled(SERVICE_LABEL, service)) == 1
    bound = clone["NetworkSettings"]["Ports"]["8080/tcp"][0]
    assert (bound["HostIp"], bound["HostPort"]) == ("127.0.0.1", str(port))  # the same port
    answer = wait_until(lambda: _page(port), what="the clone answering on the fixed port")
    assert answer is not None and clone["Config"]["Hostname"] in answer


def _page(port: int) -> str | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text
    except httpx.HTTPError:
        return None


async def test_recreate_first_undoes_a_replacement_a_killed_scalehook_left(
    engine: Engine, prefix: str, docker: DockerBackend
) -> None:
    service = f"{prefix}-web"
    first = engine.run(f"{service}-1", WEB_IMAGE, labels=replica_labels(service, 1, prefix))
    engine.run(f"{service}-2", WEB_IMAGE, labels=replica_labels(service, 2, prefix))
    # what a recreate of web-1 killed mid-way leaves: its clone running beside it
    engine.run(
        f"{service}-3",
        WEB_IMAGE,
        labels={**replica_labels(service, 3, prefix), REPLACES_LABEL: first},
    )
    assert (await docker.get_service(service=service)).desired == 2  # the clone is surge

    new = await docker.recreate(service=service, replica=f"{service}-2")

    names = sorted(r["Names"][0][1:] for r in engine.labelled(SERVICE_LABEL, service))
    assert names == sorted([f"{service}-1", new.id])  # the leftover clone was removed
    assert (await docker.get_service(service=service)).desired == 2


async def samples_of(
    backend: DockerBackend | SwarmBackend, service: str
) -> dict[str, ReplicaSample]:
    return {s.replica: s for s in await backend.samples(service=service)}


async def test_docker_samples_read_limits_usage_and_readiness(
    engine: Engine, prefix: str, docker: DockerBackend
) -> None:
    service = f"{prefix}-cpu"
    engine.run(
        f"{service}-1",
        HEALTH_IMAGE,
        labels=replica_labels(service, 1, prefix),
        host_config={"NanoCpus": 500_000_000, "Memory": 64 * MIB},
    )
    engine.run(
        f"{service}-2",
        WEB_IMAGE,
        labels=replica_labels(service, 2, prefix),
        host_config={"CpuQuota": 50_000, "CpuPeriod": 100_000, "Memory": 32 * MIB},
        cmd=SPIN,
    )
    wait_until(lambda: ready_rows(engine, service) == 2, what="both ready")
    idle, hot = f"{service}-1", f"{service}-2"

    first = await samples_of(docker, service)
    assert set(first) == {idle, hot}
    assert (first[idle].cpu_limit, first[idle].memory_limit) == (0.5, 64 * MIB)  # --cpus 0.5
    assert (first[hot].cpu_limit, first[hot].memory_limit) == (0.5, 32 * MIB)  # quota/period
    for sample in first.values():
        assert sample.cpu_percent is None and sample.window is None  # primed, never 0
        assert sample.memory_bytes is not None and sample.memory_bytes > 0
        assert sample.ready and sample.started_at is not None and sample.ready_since is not None
        assert sample.started_at <= sample.ready_since <= sample.sampled_at
    started = engine.inspect(hot)["State"]["StartedAt"]
    assert first[hot].ready_since == first[hot].started_at  # no HEALTHCHECK: since it started
    hot_started = first[hot].started_at
    assert hot_started is not None and hot_started.isoformat()[:19] == started[:19]

    async def busy() -> dict[str, ReplicaSample] | None:
        await asyncio.sleep(1.0)
        now = await samples_of(docker, service)
        hot_cpu, idle_cpu = now[hot].cpu_percent, now[idle].cpu_percent
        assert hot_cpu is not None and idle_cpu is not None
        return now if hot_cpu >= 10 and hot_cpu >= 4 * idle_cpu else None

    now = await until(busy)
    hot_cpu, window = now[hot].cpu_percent, now[hot].window
    assert hot_cpu is not None and hot_cpu <= 60  # held to 0.5 of a core
    assert window is not None and window >= MIN_WINDOW


# Swarm -------------------------------------------------------------------------------


def slots(engine: Engine, service: str) -> dict[int, str]:
    """Slot -> container id of the running tasks."""
    return {
        t["Slot"]: t["Status"]["ContainerStatus"]["ContainerID"]
        for t in engine.tasks(service)
        if t["Status"]["State"] == "running"
    }


async def swarm_service(
    engine: Engine, prefix: str, overlay: str, *, replicas: int = 2, **template: Any
) -> str:
    name = f"{prefix}-web"
    spec = service_spec(name, prefix, overlay, replicas=replicas)
    spec["TaskTemplate"].update(template)
    engine.create_service(spec)
    wait_until(lambda: len(slots(engine, name)) == replicas, timeout=60, what="tasks running")
    return name


@pytest.mark.swarm
@pytest.mark.parametrize("condition", ["any", "on-failure"])
async def test_recreate_a_swarm_task_on_the_manager(
    engine: Engine, prefix: str, overlay: str, swarm: SwarmBackend, condition: str
) -> None:
    policy = {"Condition": condition, "Delay": 100_000_000}
    name = await swarm_service(engine, prefix, overlay, RestartPolicy=policy)
    before = slots(engine, name)

    with Sampler(lambda: engine.running_tasks(name)) as running:
        new = await swarm.recreate(service=name, replica=f"{name}.1")

    assert min(running.samples) >= 1  # the other task served all along
    assert new.id == f"{name}.1" and new.state in ("starting", "running")
    after = wait_until(lambda: len(now := slots(engine, name)) == 2 and now)
    assert after
    assert after[1] != before[1] and after[2] == before[2]  # a new container, in slot 1
    assert engine.service(name)["Spec"]["Mode"]["Replicated"]["Replicas"] == 2
    page = engine.exec(after[1], ["wget", "-q", "-O-", "http://127.0.0.1:8080/"])
    assert page.startswith("hello from")

    with pytest.raises(ReplicaNotFound, match=f"{name}.1, {name}.2"):
        await swarm.recreate(service=name, replica=f"{name}.9")


@pytest.mark.swarm
async def test_swarm_recreate_refuses_what_swarm_would_not_replace(
    engine: Engine, prefix: str, overlay: str, swarm: SwarmBackend
) -> None:
    name = await swarm_service(engine, prefix, overlay, RestartPolicy={"Condition": "none"})
    with pytest.raises(NotRecreatable, match="restart condition 'none'"):
        await swarm.recreate(service=name, replica=f"{name}.1")
    assert len(slots(engine, name)) == 2  # nothing was touched

    # during an update a task ended would count against it: not now
    service = engine.service(name)
    spec = service["Spec"]
    spec["TaskTemplate"]["RestartPolicy"] = {"Condition": "any"}
    spec["TaskTemplate"]["ForceUpdate"] = 1
    spec["UpdateConfig"] = {"Parallelism": 1, "Delay": 120_000_000_000}
    engine.call(
        "POST",
        f"/services/{service['ID']}/update",
        params={"version": service["Version"]["Index"]},
        json=spec,
    )
    wait_until(lambda: (engine.service(name).get("UpdateStatus") or {}).get("State") == "updating")
    with pytest.raises(Conflict, match="being updated by Swarm"):
        await swarm.recreate(service=name, replica=f"{name}.2")


@pytest.mark.swarm
async def test_swarm_samples_read_the_task_limits_and_the_local_containers_usage(
    engine: Engine, prefix: str, overlay: str, swarm: SwarmBackend
) -> None:
    resources = {"Limits": {"NanoCPUs": 500_000_000, "MemoryBytes": 64 * MIB}}
    name = await swarm_service(engine, prefix, overlay, replicas=1, Resources=resources)
    first = await samples_of(swarm, name)
    assert set(first) == {f"{name}.1"}
    sample = first[f"{name}.1"]
    assert (sample.cpu_limit, sample.memory_limit) == (0.5, 64 * MIB)
    assert sample.ready and sample.cpu_percent is None
    assert sample.memory_bytes is not None and sample.memory_bytes > 0
    assert sample.started_at is not None and sample.ready_since is not None
    assert sample.started_at <= sample.ready_since

    async def measured() -> ReplicaSample | None:
        await asyncio.sleep(MIN_WINDOW)
        later = (await samples_of(swarm, name))[f"{name}.1"]
        return later if later.cpu_percent is not None else None

    later = await until(measured)
    assert later.cpu_percent is not None and 0 <= later.cpu_percent <= 60
    assert later.window is not None and later.window >= MIN_WINDOW
    with pytest.raises(ServiceNotFound):
        await swarm.samples(service=f"{prefix}-nope")
