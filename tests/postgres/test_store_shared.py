"""The store as several instances share it, on a real PostgreSQL: migrations run once
when they open at the same moment, target locks hold across instances and hand over
what was recorded, and a database that goes away is a 503 that passes by itself."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from scalehook.domain.executions import ExecutionDraft
from scalehook.domain.receivers import hash_key
from scalehook.errors import StoreUnavailable
from scalehook.store import Store
from scalehook.store.database import MIGRATIONS
from scalehook.testing_postgres import PostgresCluster

HEAD = ScriptDirectory(str(MIGRATIONS)).get_current_head()
T = TypeVar("T")


async def answered(call: Callable[[], Awaitable[T]], tries: int = 5) -> T:
    """``call``'s answer, tried again while the store is unavailable (a few times)."""
    for _ in range(tries - 1):
        with contextlib.suppress(StoreUnavailable):
            return await call()
    return await call()


@contextlib.asynccontextmanager
async def stores(url: str, count: int) -> AsyncIterator[list[Store]]:
    """``count`` stores on one database, opened at the same moment, as instances do."""
    opened = [Store(url) for _ in range(count)]
    try:
        await asyncio.gather(*(s.open() for s in opened))
        yield opened
    finally:
        for store in opened:
            await store.close()


async def test_instances_opening_an_empty_database_at_once_migrate_it_once(
    postgres: PostgresCluster,
) -> None:
    url = postgres.create_database()
    async with stores(url, 4) as opened:
        async with opened[0].db.engine.connect() as conn:
            versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
        assert versions == [(HEAD,)]
        key = "admin_token_sha256"
        values = await asyncio.gather(
            *(s.settings.set_default(key, f"digest-{i}") for i, s in enumerate(opened))
        )
        assert len(set(values)) == 1  # one instance's value is everyone's
        assert await opened[3].settings.get("admin_token_sha256") == values[0]


def step(before: int) -> ExecutionDraft:
    return ExecutionDraft(
        started_at=datetime.now(UTC), driver="scaleService", target="docker/web",
        result="scaled", message="", duration_ms=0.0, before=before, after=before + 1,
    )  # fmt: skip


async def test_a_target_lock_serialises_instances_and_hands_over_what_was_recorded(
    postgres: PostgresCluster,
) -> None:
    """Each holder reads the last execution of the target and records the next step in
    the lock's transaction: a lock that let go before the record was visible, or two
    holders at once, would repeat a step."""
    url = postgres.create_database()
    async with stores(url, 3) as opened:
        held = 0
        most = 0

        async def act(store: Store) -> None:
            nonlocal held, most
            async with store.locks.hold("docker/web") as tx:
                assert tx is not None
                held += 1
                most = max(most, held)
                last = await store.executions.page(targets=["docker/web"], limit=1)
                await asyncio.sleep(0.002)  # another instance's turn, were the lock not held
                before = last[0].after if last else 0
                assert before is not None
                await store.executions.add(step(before), tx=tx)
                held -= 1

        await asyncio.gather(*(act(opened[i % 3]) for i in range(60)))
        trail = list(reversed(await opened[0].executions.page(limit=100)))
    assert most == 1
    assert [(e.before, e.after) for e in trail] == [(n, n + 1) for n in range(60)]


async def test_a_holder_that_fails_records_nothing_and_lets_go(postgres: PostgresCluster) -> None:
    url = postgres.create_database()
    async with stores(url, 2) as (a, b):

        async def fail() -> None:
            async with a.locks.hold("docker/web") as tx:
                await a.executions.add(step(0), tx=tx)
                raise RuntimeError("the engine call broke")

        with pytest.raises(RuntimeError):
            await fail()
        async with asyncio.timeout(30), b.locks.hold("docker/web"):
            assert await b.executions.page() == []


async def test_an_unreachable_database_is_store_unavailable_until_it_is_back() -> None:
    with PostgresCluster() as cluster:
        store = Store(cluster.create_database("outage"))
        await store.open()
        try:
            await store.receivers.add(
                name="r", driver="scaleService", config={}, key_hash=hash_key("k"), enabled=True
            )
            cluster.stop()
            for attempt in (
                store.receivers.by_key(hash_key("k")),
                store.settings.set("k", "v"),
                store.leases.hold("leader", "me", 5),
            ):
                with pytest.raises(StoreUnavailable) as caught:
                    await attempt
                assert caught.value.status == 503
                assert caught.value.__cause__ is not None  # the driver's error, chained
                assert cluster.password not in caught.value.message
            with pytest.raises(StoreUnavailable):
                async with store.locks.hold("docker/web"):
                    pass
            cluster.start()
            # The pool's connections died with the server: the first use of one fails
            # (and the pool drops them all), then the store answers again by itself.
            assert await answered(lambda: store.receivers.by_key(hash_key("k"))) is not None
        finally:
            await store.close()
