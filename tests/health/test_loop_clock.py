"""The health loop's timing on a manual clock: real local replicas (child processes,
hung with SIGSTOP), a real store and executor, and a clock that moves only when the
test says, so "unhealthy after 3 checks" and "the backoff doubles" are exact."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from scalehook.backends import Backends
from scalehook.backends.local import LocalBackend, LocalServiceSpec
from scalehook.domain.health import ReplicaHealth
from scalehook.domain.healthchecks import HealthCheckSpec
from scalehook.executor import Executor
from scalehook.health import Health
from scalehook.loops import ManualClock
from scalehook.metrics import Metrics
from scalehook.store import Store
from scalehook.testing import free_port
from tests.health.helpers import HEALTH_APP

REF = "local/web"
STEP = 0.25  # seconds of the clock per step: less than any timeout or interval here


@dataclass
class Rig:
    clock: ManualClock
    backend: LocalBackend
    store: Store
    health: Health
    health_dir: Path

    def states(self) -> dict[str, ReplicaHealth]:
        watch = self.health.loop.watches.get(REF)
        return {} if watch is None else dict(watch.states)

    async def round(self, seconds: float, *, hung: frozenset[str] = frozenset()) -> None:
        """Move the clock on by ``seconds``, a quarter second at a time; after each step
        wait (in real time) until the checks begun have answered, but for the hung
        replicas' (those wait for their timeout on the clock), and until recreations
        under way are done: the clock never runs ahead of a replica's answer."""
        for _ in range(round(seconds / STEP)):
            await self.clock.advance(STEP)
            async with asyncio.timeout(30):
                while (watch := self.health.loop.watches.get(REF)) is not None and (
                    watch.checking - hung or self.health.deps.background
                ):
                    await asyncio.sleep(0.01)

    async def ready(self, count: int) -> None:
        """Until ``count`` replicas are ready by the backend's own (real-time) probe."""
        async with asyncio.timeout(30):
            while (await self.backend.get_service(service="web")).ready < count:
                await asyncio.sleep(0.02)

    async def executions(self, result: str) -> list[Any]:
        found = await self.store.executions.page(targets=[REF], result=result, limit=100)  # type: ignore[arg-type]
        return list(reversed(found))

    def pid(self, replica: str) -> int:
        found = next(r for r in self.backend._service("web").processes() if r.id == replica)
        assert found.pid is not None
        return found.pid


@pytest.fixture
async def rig(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    options: dict[str, Any] = getattr(request, "param", {})
    health_dir = tmp_path / "health"
    health_dir.mkdir()
    spec = LocalServiceSpec.model_validate(
        {
            "command": [sys.executable, HEALTH_APP],
            "replicas": options.pop("replicas", 2),
            "port": free_port(),
            "readiness": {"tcp": True, "interval": "100ms"},
            "stop_grace": "5s",
            "env": {"HEALTH_DIR": str(health_dir)},
        }
    )
    spec.name = "web"
    check = HealthCheckSpec.model_validate(
        {
            "http": "GET /healthz HTTP/1.0",
            "interval": "2s",
            "timeout": "1s",
            "healthy_threshold": 2,
            "unhealthy_threshold": 3,
            **options,
        }
    )
    clock = ManualClock()
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    await store.open()
    backend = LocalBackend("local", {"web": spec}, tmp_path / "data", clock=clock)
    await backend.start()
    backends = Backends([backend])
    metrics = Metrics()
    executor = Executor(store, backends, metrics, clock=clock)
    health = Health(
        store=store,
        backends=backends,
        executor=executor,
        metrics=metrics,
        clock=clock,
        declared={REF: check},
    )
    async with asyncio.timeout(30):
        while (await backend.get_service(service="web")).ready < spec.replicas:
            await asyncio.sleep(0.05)
    loop = asyncio.create_task(health.loop.run())
    async with asyncio.timeout(30):  # the first round, at once
        while (watch := health.loop.watches.get(REF)) is None or watch.checked_at is None:
            await asyncio.sleep(0.01)
    await clock.wait_sleeping(2)  # the loop's refresh and the watch's next round
    yield Rig(clock, backend, store, health, health_dir)
    loop.cancel()
    await asyncio.gather(loop, return_exceptions=True)
    await health.close()
    await backend.close()
    await store.close()


async def test_a_hung_replica_is_unhealthy_at_its_third_failed_check_and_replaced(
    rig: Rig,
) -> None:
    # found serving when the check began: one passing round each made them healthy
    assert {r: h.state for r, h in rig.states().items()} == {"web-1": "healthy", "web-2": "healthy"}
    # what the balancers read: by ref, or by a bare name where it is unique
    assert (
        rig.health.states(REF)
        == rig.health.states("web")
        == {
            "web-1": "healthy",
            "web-2": "healthy",
        }
    )
    assert rig.health.states("local/other") is None and rig.health.states("other") is None
    hung_pid = rig.pid("web-1")
    os.kill(hung_pid, signal.SIGSTOP)
    try:
        states = []
        for _ in range(6):
            await rig.round(2, hung=frozenset({"web-1"}))
            states.append(rig.states().get("web-1"))
            if await rig.executions("recreated"):
                break
        recreated = (await rig.executions("recreated"))[0]
    finally:
        with contextlib.suppress(ProcessLookupError):  # stopped for good by the recreate
            os.kill(hung_pid, signal.SIGCONT)
    # each round ends one check (the one begun a round before, which timed out on the
    # clock) and begins the next: healthy through two failed checks, replaced at the third
    assert [(h.state, h.failures) for h in states if h is not None] == [
        ("healthy", 0),
        ("healthy", 1),
        ("healthy", 2),
    ]
    assert states[-1] is None
    failed = recreated.details["failed_checks"]
    assert [c["detail"] for c in failed] == ["timeout after 1s waiting for an answer"] * 3
    times = [datetime.fromisoformat(c["at"]) for c in failed]
    assert [(b - a).total_seconds() for a, b in pairwise(times)] == [2.0, 2.0]  # every interval
    # recreated in the round of the third check (once it timed out), not one later
    assert times[-1] < recreated.started_at <= times[-1] + timedelta(seconds=2)
    new = recreated.details["new_replica"]
    assert "web-1" not in rig.states()
    await rig.round(2)
    first = rig.states()[new]
    assert first.state == "reinitializing" and first.replacing == "web-1"
    assert first.reason.startswith(("recreated in place of web-1", "waiting for 2 checks"))
    await rig.ready(2)  # the replacement's process listens (its start takes real time)
    for _ in range(5):
        if rig.states()[new].state == "healthy":
            break
        await rig.round(2)
    assert rig.states()[new].state == "healthy"
    assert rig.pid(new) != hung_pid


@pytest.mark.parametrize(
    "rig",
    [
        {
            "replicas": 1,
            "interval": "1s",
            "timeout": "500ms",
            "healthy_threshold": 1,
            "unhealthy_threshold": 1,
            "backoff": "10s",
            "max_backoff": "40s",
            "max_recreations": 4,
            "recreation_window": "2m",
        }
    ],
    indirect=True,
)
async def test_recreations_of_a_flapping_service_back_off_and_stop_at_the_cap(rig: Rig) -> None:
    """Each replica passes, then fails: the loop would recreate at every round; the
    limits space the recreations out (10s, 20s, 40s) and cap them (4 per 2m); once the
    first has left the window, the next may go, and only the window's are kept."""
    everyone = rig.health_dir / "all"
    recreations: list[float] = []
    capped = None
    while len(recreations) < 5:
        assert rig.clock.monotonic() < 300, f"no fifth recreation: {recreations}"
        everyone.write_text("500")
        await rig.round(1)
        found = await rig.executions("recreated")
        if len(found) > len(recreations):
            ago = (rig.clock.now() - found[-1].started_at).total_seconds()
            recreations.append(rig.clock.monotonic() - ago)
            everyone.write_text("200")  # the replacement passes, then fails again
            await rig.ready(1)
            for _ in range(5):
                await rig.round(1)
                if all(h.state == "healthy" for h in rig.states().values()):
                    break
        held = await rig.executions("cooldown")
        if capped is None and any("max_recreations" in e.message for e in held):
            capped = rig.clock.monotonic()
            assert len(recreations) == 4  # the cap held the fifth
    gaps = [round(b - a) for a, b in pairwise(recreations)]
    assert gaps[:3] == [10, 20, 40]
    assert capped is not None and recreations[3] < capped < recreations[4]
    held = [e for e in await rig.executions("cooldown") if "max_recreations" in e.message]
    assert "max_recreations reached: 4 in the last 2m (at most 4)" in held[-1].message
    # the fifth went once the first left the window (2m), not before
    assert recreations[4] - recreations[0] >= 120 - 1e-6
    # the watch keeps only the recreations still in the window: the first is gone
    watch = rig.health.loop.watches[REF]
    assert len(watch.recreations) == 4
    assert all(rig.clock.monotonic() - t < 120 for t in watch.recreations)
