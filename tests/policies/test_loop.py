"""The policy loop in process on a ManualClock: when policies are evaluated, what a
change, a pause or a slow source does to that, the idle rule of scale to zero, and the
rate rules' memory across a restart. Real parts: a SQLite store, the executor, the local
backend with real replicas behind its real balancer (the balancer's clock is the manual
one); time moves only when the test says."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from scalehook.backends import Backends
from scalehook.backends.local import LocalBackend, LocalServiceSpec
from scalehook.config import PrometheusSettings
from scalehook.domain.policy_records import PolicyRecord
from scalehook.executor import Executor
from scalehook.loops.clock import ManualClock
from scalehook.metrics import Metrics
from scalehook.policies.loop import PolicyLoop
from scalehook.policies.sources import build_sources
from scalehook.store import Store
from scalehook.testing import free_port
from tests.policies.conftest import EXAMPLE_APP, connections, policy

START = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)  # a Monday


@dataclass
class Lab:
    clock: ManualClock
    store: Store
    backend: LocalBackend
    executor: Executor
    metrics: Metrics
    loop: PolicyLoop
    port: int
    prometheus: PrometheusSettings | None = None
    task: asyncio.Task[None] | None = None

    async def restart(self) -> None:
        """Stop the loop and start a new one on the same store (a restart, or a new
        leader): it knows only what the store holds."""
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        self.loop = PolicyLoop(
            store=self.store,
            executor=self.executor,
            backends=Backends([self.backend]),
            metrics=self.metrics,
            clock=self.clock,
            sources=build_sources(clock=self.clock, prometheus=self.prometheus),
            refresh=30.0,
        )
        self.task = asyncio.create_task(self.loop.run())
        await self.settle()

    async def add(self, body: dict[str, Any]) -> PolicyRecord:
        record = await self.store.policies.add(
            name=body["name"], service=body["service"], body=body
        )
        self.loop.changed()
        await self.settle()
        return record

    async def settle(self) -> None:
        """Let the loop take in what changed, and every batch finish."""
        for _ in range(20):
            await asyncio.sleep(0)
        await self.clock.wait_sleeping(1)
        await self.loop.quiet()

    async def tick(self, seconds: float = 1.0) -> None:
        await self.clock.advance(seconds)
        await self.loop.quiet()

    def times(self, record: PolicyRecord) -> list[float]:
        """Seconds since START of each evaluation, oldest first."""
        found = self.loop.evaluations(record.id) or []
        return [(datetime.fromisoformat(e["at"]) - START).total_seconds() for e in reversed(found)]

    def evaluations(self, record: PolicyRecord) -> list[dict[str, Any]]:
        return list(reversed(self.loop.evaluations(record.id) or []))

    async def desired(self) -> int:
        return (await self.backend.get_service(service="web")).desired


def web(port: int, replicas: int) -> LocalServiceSpec:
    made = LocalServiceSpec.model_validate(
        {
            "command": [sys.executable, str(EXAMPLE_APP), "{port}"],
            "replicas": replicas,
            "port": port,
            "readiness": {"http": "GET / HTTP/1.0", "interval": "100ms", "timeout": "1s"},
            "stop_grace": "2s",
        }
    )
    made.name = "web"
    return made


@pytest.fixture
async def lab(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Lab]]]:
    labs: list[Lab] = []

    async def start(replicas: int = 1, prometheus: PrometheusSettings | None = None) -> Lab:
        clock = ManualClock(START)
        store = Store(f"sqlite+aiosqlite:///{tmp_path / 'scalehook.db'}")
        await store.open()
        port = free_port()
        backend = LocalBackend("local", {"web": web(port, replicas)}, tmp_path, clock=clock)
        await backend.start()
        backends = Backends([backend])
        metrics = Metrics()
        executor = Executor(store, backends, metrics, clock=clock)
        loop = PolicyLoop(
            store=store,
            executor=executor,
            backends=backends,
            metrics=metrics,
            clock=clock,
            sources=build_sources(clock=clock, prometheus=prometheus),
            refresh=30.0,
        )
        made = Lab(clock, store, backend, executor, metrics, loop, port, prometheus)
        await until(lambda: ready(backend, replicas))
        made.task = asyncio.create_task(loop.run())
        labs.append(made)
        await made.settle()
        return made

    yield start
    for made in labs:
        assert made.task is not None
        made.task.cancel()
        await asyncio.gather(made.task, return_exceptions=True)
        await made.backend.close()
        await made.store.close()


async def ready(backend: LocalBackend, count: int) -> bool:
    return (await backend.get_service(service="web")).ready == count


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.02)


async def get(port: int) -> bytes:
    """One HTTP answer through the balancer (on this loop: the balancer runs here)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.0\r\n\r\n")
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    return answer


async def wait_evaluated(made: Lab, record: PolicyRecord) -> bool:
    """The policy was evaluated at the clock's time now."""
    times = made.times(record)
    return bool(times) and times[-1] == made.clock.monotonic()


def steady(name: str, **fields: Any) -> dict[str, Any]:
    """A policy that reads the balancer and never moves the count (min = max = 1)."""
    return policy(name, "web", connections(), min=1, max=1, **fields)


async def test_each_policy_is_evaluated_at_once_then_on_its_interval(
    lab: Callable[..., Awaitable[Lab]],
) -> None:
    made = await lab()
    every_second = await made.add(steady("fast", interval="1s"))
    every_three = await made.add(steady("slow", interval="3s"))
    for _ in range(6):
        await made.tick(1.0)
    assert made.times(every_second) == [0, 1, 2, 3, 4, 5, 6]
    assert made.times(every_three) == [0, 3, 6]  # on the grid of its interval


async def test_a_paused_policy_is_not_evaluated_and_a_change_is_taken_at_once(
    lab: Callable[..., Awaitable[Lab]],
) -> None:
    made = await lab()
    paused = await made.add(steady("quiet", paused=True))
    for _ in range(3):
        await made.tick(1.0)
    assert made.times(paused) == []

    await made.clock.advance(0.5)
    body = {**paused.body, "paused": False}
    await made.store.policies.update(paused.id, name="quiet", service="web", body=body)
    made.loop.changed()
    await made.settle()
    assert made.times(paused) == [3.5]  # at once, not at the next refresh
    await made.tick(0.5)
    assert made.times(paused) == [3.5, 4.0]

    await made.store.policies.delete(paused.id)
    made.loop.changed()
    await made.settle()
    await made.tick(1.0)
    assert made.loop.evaluations(paused.id) == []  # forgotten


async def test_a_policy_whose_source_hangs_is_not_evaluated_twice_at_once(
    lab: Callable[..., Awaitable[Lab]],
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        made = await lab(prometheus=PrometheusSettings(url=url, timeout=1.0))
        hung = await made.store.policies.add(
            name="hung",
            service="web",
            body=policy(
                "hung",
                "web",
                {"name": "q", "source": "prometheus", "query": "up", "target": 1},
                min=1,
                max=1,
            ),
        )
        fine = await made.store.policies.add(name="fine", service="web", body=steady("fine"))
        made.loop.changed()
        for _ in range(20):
            await asyncio.sleep(0)
        await made.clock.wait_sleeping(1)
        for _ in range(4):  # four intervals pass while the query waits (a real second)
            await made.clock.advance(1.0)
            await until(lambda: wait_evaluated(made, fine))
        assert made.times(fine) == [0, 1, 2, 3, 4]  # the other policy is not held up
        assert made.evaluations(hung) == []  # still reading
        await made.loop.quiet()
        found = made.evaluations(hung)
        assert len(found) == 1, found  # one evaluation, not one per interval piled up
        assert found[0]["metrics"][0]["error"]
        assert found[0]["desired"] == found[0]["current"] == 1


async def test_scale_to_zero_counts_idle_from_the_last_connection(
    lab: Callable[..., Awaitable[Lab]],
) -> None:
    made = await lab()
    record = await made.add(
        policy(
            "idle",
            "web",
            connections(target=5),
            min=0,
            max=3,
            behavior={
                "down": {"stabilization": "10s", "rules": [{"percent": 100, "period": "1s"}]}
            },
        )
    )
    for _ in range(5):
        await made.tick(1.0)
    assert b"hello from web-1" in await get(made.port)  # at t=5
    for _ in range(9):  # t=14: 9s since the last connection, 14s since the policy began
        await made.tick(1.0)
    assert await made.desired() == 1
    last = made.evaluations(record)[-1]
    assert "idle" in last["limited_by"], last
    for _ in range(2):  # t=16: past 10s since the connection
        await made.tick(1.0)
    assert await made.desired() == 0
    scaled = [e for e in made.evaluations(record) if e["action"] == "scaled"]
    assert scaled and scaled[-1]["desired"] == 0


async def test_a_connection_at_zero_wakes_the_service_and_gets_its_answer(
    lab: Callable[..., Awaitable[Lab]],
) -> None:
    made = await lab(replicas=0)
    record = await made.add(policy("wake", "web", connections(target=5), min=0, max=3))
    await made.tick(1.0)
    assert await made.desired() == 0
    answer = await asyncio.wait_for(get(made.port), 30)  # held while one replica starts
    assert answer.startswith(b"HTTP/1.0 200") and b"hello from web-1" in answer
    assert await made.desired() == 1
    woken = [e for e in made.evaluations(record) if e["action"] == "woken"]
    assert len(woken) == 1 and "woken by a connection" in woken[0]["message"]
    trail = await made.store.executions.page(receiver_name="wake")
    assert [(e.driver, e.result, e.before, e.after) for e in trail] == [("policy", "scaled", 0, 1)]


async def test_no_policy_no_wake_the_connection_is_closed_at_once(
    lab: Callable[..., Awaitable[Lab]],
) -> None:
    made = await lab(replicas=0)
    await made.add(policy("asleep", "web", connections(target=5), min=0, max=3, paused=True))
    assert await asyncio.wait_for(get(made.port), 5) == b""  # closed, not held for 30s
    assert await made.desired() == 0


async def test_a_restart_remembers_the_rate_rules_scale_events(
    lab: Callable[..., Awaitable[Lab]],
) -> None:
    made = await lab()
    held = [await asyncio.open_connection("127.0.0.1", made.port) for _ in range(4)]
    try:
        await until(lambda: connections_open(made, 4))
        body = policy(
            "burst",
            "web",
            connections(target=1),
            min=1,
            max=5,
            behavior={"up": {"rules": [{"replicas": 1, "period": "60s"}]}},
        )
        record = await made.add(body)
        assert await made.desired() == 2  # wants 4; one more per minute
        first = made.evaluations(record)[-1]
        assert first["action"] == "scaled" and first["recommendation"] == 4

        await made.restart()
        for _ in range(5):
            await made.tick(10.0)
        assert await made.desired() == 2  # the scale event came back from the trail
        last = made.evaluations(record)[-1]
        assert (last["recommendation"], last["desired"]) == (4, 2), last
        assert any("rule" in label for label in last["limited_by"]), last
        await made.tick(15.0)  # 65s after the first scale-up
        assert await made.desired() == 3
    finally:
        for _, writer in held:
            writer.close()


async def connections_open(made: Lab, count: int) -> bool:
    stats = await made.backend.balancer_stats(service="web")
    return sum(r.active for r in stats.replicas) == count


async def test_a_schedule_raises_the_floor_while_its_window_is_open(
    lab: Callable[..., Awaitable[Lab]],
) -> None:
    made = await lab()  # Monday 07:00 UTC
    window = {"name": "office", "type": "schedule", "cron": "0 8 * * 1-5", "duration": "10h",
              "replicas": 3, "timezone": "UTC"}  # fmt: skip
    record = await made.add(
        policy(
            "office",
            "web",
            connections(target=50),
            window,
            interval="60s",
            behavior={"down": {"stabilization": "120s"}},
        )
    )
    for _ in range(59):  # 07:59
        await made.tick(60.0)
    assert await made.desired() == 1
    await made.tick(60.0)  # 08:00
    assert await made.desired() == 3
    scaled = made.evaluations(record)[-1]
    assert scaled["action"] == "scaled" and scaled["winner"] == "office"
    for _ in range(600):  # 18:00, the window closes
        await made.tick(60.0)
    assert await made.desired() == 3  # the down window holds it
    for _ in range(3):
        await made.tick(60.0)
    assert await made.desired() == 1
