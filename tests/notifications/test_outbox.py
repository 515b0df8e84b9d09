"""The outbox and its loop, in process on a real store: an execution and its deliveries
commit together or not at all; claims never overlap between instances; the retry
schedule, on the manual clock, against a real HTTP sink."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from scalehook.domain.executions import Execution
from scalehook.domain.notifications import Delivery, NotificationId, parse_spec
from scalehook.loops import ManualClock
from scalehook.metrics import Metrics
from scalehook.notifications.delivery import DeliveryLoop
from scalehook.notifications.enqueue import Enqueuer
from scalehook.notifications.settings import NotificationSettings
from scalehook.recording import Audit, Recorder
from scalehook.store import Store, Transaction
from scalehook.testing_postgres import PostgresCluster
from tests.notifications.sinks import HttpSink


class Boom(Exception):
    pass


class FailingHook:
    async def recorded(self, execution: Execution, *, tx: Transaction) -> None:
        raise Boom


@pytest.fixture(params=[True, False], ids=["on-loop", "async-engine"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}", on_loop=request.param)
    await store.open()
    yield store
    await store.close()


async def test_an_execution_and_its_deliveries_commit_together_or_not_at_all(
    store: Store,
) -> None:
    clock = ManualClock()
    await store.notifications.add(
        parse_spec({"name": "ops", "type": "webhook", "url": "https://h.example/x"})
    )
    await store.notifications.add(
        parse_spec(
            {
                "name": "fails",
                "type": "webhook",
                "url": "https://h.example/y",
                "on": {"result": "failed"},
            }
        )
    )
    enqueuer = Enqueuer(store, clock, wake=lambda: None)
    recorder = Recorder(store, Metrics(), clock, hooks=[enqueuer])
    done = await recorder.record(
        Audit(driver="api"), target="local/web", result="scaled", message="scaled from 1 to 2"
    )
    (ops,) = [n for n in await store.notifications.all() if n.name == "ops"]
    (delivery,) = await store.outbox.page(ops.id)
    assert (delivery.execution_id, delivery.status, delivery.attempts) == (done.id, "pending", 0)
    assert delivery.payload["message"] == "scaled from 1 to 2"
    assert await store.outbox.counts() == {("ops", "pending"): 1}  # "fails" did not match

    # A rollout: nothing while it runs, one delivery with its final result.
    running = await recorder.begin(
        Audit(driver="serviceUpgrade"),
        target="local/web",
        result="upgrading",
        message="",
        details={},
    )
    assert await store.outbox.counts() == {("ops", "pending"): 1}
    await recorder.finish(running.id, Audit(driver="serviceUpgrade"), result="failed",
                          message="boom", details={})  # fmt: skip
    counts = await store.outbox.counts()
    assert counts == {("ops", "pending"): 2, ("fails", "pending"): 1}

    recorder.hooks.append(FailingHook())
    with pytest.raises(Boom):
        await recorder.record(Audit(driver="api"), target="local/web", result="noop", message="")
    assert len(await store.executions.page()) == 2  # the one that failed left nothing
    assert await store.outbox.counts() == counts


@pytest.fixture(params=["sqlite", "postgresql"])
async def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One database two stores share: a SQLite file, or a new database on the test
    run's PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return cluster.create_database()


async def test_two_instances_never_claim_one_delivery_and_a_dead_ones_lease_runs_out(
    shared_url: str,
) -> None:
    first, second = Store(shared_url, on_loop=False), Store(shared_url, on_loop=False)
    await first.open()
    await second.open()
    try:
        clock = ManualClock()
        now = clock.now()
        ops = await first.notifications.add(
            parse_spec({"name": "ops", "type": "webhook", "url": "https://h.example/x"})
        )
        for execution in range(40):
            await first.outbox.enqueue([ops], execution_id=execution, payload={}, now=now)

        async def drain(store: Store, me: str) -> list[int]:
            got: list[int] = []
            while batch := await store.outbox.claim(
                instance=me, now=now, until=now + timedelta(seconds=60), limit=3
            ):
                got += [d.execution_id for d in batch]
                await asyncio.sleep(0)
            return got

        a, b = await asyncio.gather(drain(first, "a"), drain(second, "b"))
        assert sorted(a + b) == list(range(40))
        assert not set(a) & set(b)

        # "a" dies holding its leases: nobody takes them before they run out, anybody after
        later = now + timedelta(seconds=30)
        assert await second.outbox.claim(instance="b", now=later, until=later, limit=50) == []
        after = now + timedelta(seconds=61)
        taken = await second.outbox.claim(
            instance="b", now=after, until=after + timedelta(seconds=60), limit=100
        )
        assert len(taken) == 40
        # the only instance on a database gives back every lease at its start
        assert await first.outbox.release() == 40
    finally:
        await first.close()
        await second.close()


async def test_a_failing_delivery_is_retried_on_the_backoff_schedule(tmp_path: Path) -> None:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await store.open()
    clock = ManualClock()
    metrics = Metrics()
    settings = NotificationSettings(backoff=10, max_backoff=25, attempts=4, poll=1000)
    with HttpSink() as sink:
        sink.answers = {"/x": [503, 503, 503, 503]}
        ops = await store.notifications.add(
            parse_spec({"name": "ops", "type": "webhook", "url": f"{sink.url}/x"})
        )
        loop = DeliveryLoop(store, clock, metrics, settings, instance="test")
        start = clock.now()
        await store.outbox.enqueue([ops], execution_id=7, payload={"id": 7}, now=start)
        task = asyncio.create_task(loop.run())
        try:
            schedule = []
            for attempts, wait in ((1, 10), (2, 20), (3, 25)):
                (row,) = await _when(store, ops.id, lambda d, n=attempts: d.attempts == n)  # type: ignore[misc]
                assert row.status == "pending"
                schedule.append((row.next_attempt_at - start).total_seconds())
                await clock.wait_sleeping(1)
                await clock.advance(wait)
            (row,) = await _when(store, ops.id, lambda d: d.status == "failed")
            assert row.attempts == 4 and "answered 503" in (row.last_error or "")
            assert schedule == [10.0, 30.0, 55.0]  # 10, then 20, then capped at 25
            assert len(sink.received()) == 4
            failed = metrics.registry.get_sample_value(
                "scalehook_notifications_total", {"notification": "ops", "status": "failed"}
            )
            assert failed == 1
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await store.close()


async def _when(
    store: Store, notification: NotificationId, condition: Callable[[Delivery], bool]
) -> list[Delivery]:
    """The notification's deliveries once ``condition`` holds for the first (real time)."""
    async with asyncio.timeout(30):
        while True:
            rows = await store.outbox.page(notification)
            if rows and condition(rows[0]):
                return rows
            await asyncio.sleep(0.02)
