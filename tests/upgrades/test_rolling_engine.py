"""The RollingEngine primitives of the local backend, driven directly: what a batch
does, and what a cancelled batch leaves behind. Written against the protocol, so an
engine that implements it (plain Docker, next) can run the same checks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from scalehook.backends.local import LocalBackend, LocalServiceSpec
from tests.upgrades.helpers import release_service


async def settle(backend: LocalBackend, ready: int) -> None:
    async with asyncio.timeout(20):
        while (await backend.get_service(service="web")).ready != ready:
            await asyncio.sleep(0.05)


async def mid_batch(backend: LocalBackend) -> bool:
    """An old replica is stopping (stop-first), or a new one is starting (start-first)."""
    replicas = await backend.replicas(service="web")
    return len(replicas) > 2 or any(r.state == "stopping" for r in replicas)


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[LocalBackend]:
    spec = LocalServiceSpec.model_validate(
        release_service(replicas=2, env={"STOP_DELAY": "1"}, stop_grace="5s", port=None)
    )
    spec.name = "web"
    engine = LocalBackend("local", {"web": spec}, tmp_path)
    await engine.start()
    try:
        await settle(engine, 2)
        yield engine
    finally:
        await engine.close()


async def test_a_stop_first_batch_replaces_members_with_the_new_image(
    backend: LocalBackend,
) -> None:
    replacement = await backend.replace_replicas(
        service="web", replicas=["web-1"], image="acme/app:2", start_first=False, ready_timeout=10
    )
    assert replacement.ready and replacement.stopped == ("web-1",)
    images = sorted(str(r.image) for r in await backend.members(service="web"))
    assert images == ["acme/app:1", "acme/app:2"]
    state = await backend.get_service(service="web")
    assert (state.desired, state.image) == (2, "acme/app:1")  # the service's own: not yet


async def test_a_start_first_batch_that_fails_keeps_the_old_replicas(
    backend: LocalBackend,
) -> None:
    before = {r.id: r.pid for r in await backend.members(service="web")}
    replacement = await backend.replace_replicas(
        service="web", replicas=["web-1"], image="acme/app:3", start_first=True, ready_timeout=1
    )
    assert not replacement.ready
    assert "(acme/app:3) was not ready within 1s" in replacement.reason
    assert {r.id: r.pid for r in await backend.members(service="web")} == before


@pytest.mark.parametrize("start_first", [False, True])
async def test_a_cancelled_batch_leaves_the_desired_count_on_one_image_or_the_other(
    backend: LocalBackend, start_first: bool
) -> None:
    batch = asyncio.create_task(
        backend.replace_replicas(
            service="web",
            replicas=["web-1"],
            image="acme/app:2",
            start_first=start_first,
            ready_timeout=10,
        )
    )
    async with asyncio.timeout(10):
        while not await mid_batch(backend):
            await asyncio.sleep(0.01)
    batch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await batch
    members = await backend.members(service="web")
    assert len(members) == 2  # at once, not at the next batch
    assert {m.image for m in members} <= {"acme/app:1", "acme/app:2"}
    await settle(backend, 2)
    if start_first:  # the new replica was never kept
        assert {m.image for m in await backend.members(service="web")} == {"acme/app:1"}


async def test_set_image_is_what_new_replicas_run_and_is_kept(
    backend: LocalBackend, tmp_path: Path
) -> None:
    await backend.set_image(service="web", image="docker.io/acme/app:2")
    await backend.scale(service="web", replicas=3)
    await settle(backend, 3)
    assert sorted(str(r.image) for r in await backend.members(service="web")) == [
        "acme/app:1",
        "acme/app:1",
        "acme/app:2",
    ]
    assert "acme/app:2" in (tmp_path / "local-state.json").read_text()
    with pytest.raises(Exception, match="runs versions of acme/app"):
        await backend.set_image(service="web", image="acme/other:2")
