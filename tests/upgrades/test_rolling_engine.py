"""The RollingEngine primitives, driven directly: what a batch does, and what a cancelled
batch leaves behind. Written against the protocol and run on every engine that
implements it: the local backend (processes) and plain Docker (real containers)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from scalehook.backends.base import RolloutEvent, UpgradeStrategy
from scalehook.backends.docker import DockerBackend, DockerSettings
from scalehook.backends.docker.groups import REPLICA_LABEL, SERVICE_LABEL
from scalehook.backends.local import LocalBackend, LocalServiceSpec
from scalehook.loops import ManualClock
from tests.docker.apps import APP
from tests.docker.engine import TEST_LABEL, Engine
from tests.upgrades.helpers import release_service


@dataclass
class Rig:
    """One engine with a service ``service`` of two replicas of version 1."""

    backend: LocalBackend | DockerBackend
    service: str
    repository: str
    mid_batch: Callable[[], Awaitable[bool]]
    not_ready: str  # how the engine says a version-3 replica failed its gate

    def image(self, version: str) -> str:
        return f"{self.repository}:{version}"

    def replica(self, number: int) -> str:
        return f"{self.service}-{number}"

    async def settle(self, ready: int) -> None:
        async with asyncio.timeout(30):
            while (await self.backend.get_service(service=self.service)).ready != ready:
                await asyncio.sleep(0.05)

    async def quiet(self, count: int) -> None:
        """Wait until only ``count`` replicas are left (retired ones gone, nothing else)."""
        async with asyncio.timeout(30):
            while len(await self.backend.replicas(service=self.service)) != count:
                await asyncio.sleep(0.05)

    async def images(self) -> list[str]:
        return sorted(str(r.image) for r in await self.backend.members(service=self.service))


async def local_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    spec = LocalServiceSpec.model_validate(
        release_service(replicas=2, env={"STOP_DELAY": "1"}, stop_grace="5s", port=None)
    )
    spec.name = "web"
    backend = LocalBackend("local", {"web": spec}, tmp_path)

    async def mid_batch() -> bool:
        """An old replica is stopping (stop-first), or a new one starting (start-first)."""
        replicas = await backend.replicas(service="web")
        return len(replicas) > 2 or any(r.state == "stopping" for r in replicas)

    await backend.start()
    try:
        rig = Rig(backend, "web", "acme/app", mid_batch, "(acme/app:3) was not ready within 1s")
        await rig.settle(2)
        yield rig
    finally:
        await backend.close()


async def docker_rig(engine: Engine) -> AsyncIterator[Rig]:
    prefix = f"shk{secrets.token_hex(3)}"
    service = f"{prefix}-web"
    for number in (1, 2):
        engine.run(
            f"{service}-{number}",
            f"{APP}:1",
            labels={SERVICE_LABEL: service, REPLICA_LABEL: str(number), TEST_LABEL: prefix},
        )
    backend = DockerBackend("docker", DockerSettings())

    async def mid_batch() -> bool:
        """A new container exists beside the two, or an old one is being stopped."""
        rows = await asyncio.to_thread(engine.labelled, SERVICE_LABEL, service)
        return len(rows) > 2 or any(r["State"] != "running" for r in rows)

    await backend.start()
    try:
        rig = Rig(backend, service, APP, mid_batch, f"({APP}:3) failed: it is unhealthy")
        await rig.settle(2)
        yield rig
    finally:
        await backend.close()
        engine.remove_everything(prefix)


@pytest.fixture(params=["local", pytest.param("docker", marks=pytest.mark.docker)])
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    if request.param == "local":
        async for made in local_rig(tmp_path):
            yield made
        return
    engine: Engine = request.getfixturevalue("engine")
    request.getfixturevalue("apps")
    async for made in docker_rig(engine):
        yield made


async def test_a_stop_first_batch_replaces_members_with_the_new_image(rig: Rig) -> None:
    replacement = await rig.backend.replace_replicas(
        service=rig.service,
        replicas=[rig.replica(1)],
        image=rig.image("2"),
        start_first=False,
        ready_timeout=10,
    )
    assert replacement.ready and replacement.stopped == (rig.replica(1),)
    assert await rig.images() == [rig.image("1"), rig.image("2")]
    state = await rig.backend.get_service(service=rig.service)
    assert (state.desired, state.image) == (2, rig.image("1"))  # the service's own: not yet


async def test_a_start_first_batch_that_fails_keeps_the_old_replicas(rig: Rig) -> None:
    before = [(r.id, r.image) for r in await rig.backend.members(service=rig.service)]
    replacement = await rig.backend.replace_replicas(
        service=rig.service,
        replicas=[rig.replica(1)],
        image=rig.image("3"),
        start_first=True,
        ready_timeout=1 if isinstance(rig.backend, LocalBackend) else 10,
    )
    assert not replacement.ready
    assert rig.not_ready in replacement.reason
    assert replacement.stopped == replacement.started  # the new one went, not the old
    assert [(r.id, r.image) for r in await rig.backend.members(service=rig.service)] == before
    await rig.settle(2)
    await rig.quiet(2)


@pytest.mark.parametrize("start_first", [False, True])
async def test_a_cancelled_batch_leaves_the_desired_count_on_one_image_or_the_other(
    rig: Rig, start_first: bool
) -> None:
    batch = asyncio.create_task(
        rig.backend.replace_replicas(
            service=rig.service,
            replicas=[rig.replica(1)],
            image=rig.image("2"),
            start_first=start_first,
            ready_timeout=10,
        )
    )
    async with asyncio.timeout(60):
        while not await rig.mid_batch():
            await asyncio.sleep(0.01)
    batch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await batch
    members = await rig.backend.members(service=rig.service)
    assert len(members) == 2  # at once, not at the next batch
    assert {m.image for m in members} <= {rig.image("1"), rig.image("2")}
    await rig.settle(2)
    await rig.quiet(2)  # nothing half-made left beside them
    if start_first:  # the new replica was never kept
        assert await rig.images() == [rig.image("1")] * 2


async def test_set_image_is_what_new_replicas_run(rig: Rig, tmp_path: Path) -> None:
    await rig.backend.set_image(service=rig.service, image=f"docker.io/{rig.image('2')}")
    await rig.backend.scale(service=rig.service, replicas=3)
    await rig.settle(3)
    assert await rig.images() == [rig.image("1"), rig.image("1"), rig.image("2")]
    if isinstance(rig.backend, LocalBackend):  # kept on disk; docker: by its members
        assert "acme/app:2" in (tmp_path / "local-state.json").read_text()
        with pytest.raises(Exception, match="runs versions of acme/app"):
            await rig.backend.set_image(service="web", image="acme/other:2")


async def test_batches_wait_their_interval_on_the_clock(tmp_path: Path) -> None:
    """An hour between batches takes no hour: the interval is waited on the clock."""
    clock = ManualClock()
    spec = LocalServiceSpec.model_validate(release_service(replicas=2, port=None))
    spec.name = "web"
    backend = LocalBackend("local", {"web": spec}, tmp_path, clock=clock)
    await backend.start()
    events: list[str] = []

    async def progress(event: RolloutEvent) -> None:
        if event.batch is not None:
            events.append(event.message)

    try:
        rig = Rig(backend, "web", "acme/app", lambda: asyncio.sleep(0, False), "")
        await rig.settle(2)
        rollout = asyncio.create_task(
            backend.upgrade(
                service="web",
                image="acme/app:2",
                previous="acme/app:1",
                strategy=UpgradeStrategy(batch_size=1, batch_interval=3600, health_timeout=30),
                progress=progress,
            )
        )
        await clock.wait_sleeping(1, timeout=60)  # batch 1 done, the interval begun
        assert [e.split(":")[0] for e in events] == ["batch 1/2 ready"]
        assert not rollout.done()
        await clock.advance(3599)
        assert len(events) == 1 and not rollout.done()
        await clock.advance(1)
        result = await asyncio.wait_for(rollout, 60)
        assert result.outcome == "upgraded", result.message
        assert [e.split(":")[0] for e in events] == ["batch 1/2 ready", "batch 2/2 ready"]
        assert await rig.images() == [rig.image("2")] * 2
    finally:
        await backend.close()
