"""Writes of several repositories in one transaction: all of them land, or none, on
every way the store runs (SQLite on the loop's thread or the async engine, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest

from scalehook.domain.executions import ExecutionDraft
from scalehook.domain.incidents import IncidentMark
from scalehook.domain.receivers import Receiver, ReceiverId, hash_key
from scalehook.store import Store, Transaction

T0 = datetime(2026, 11, 23, 6, 14, 58, tzinfo=UTC)
R1 = ReceiverId(1)


class Boom(Exception):
    pass


async def rolled_back(store: Store, write: Callable[[Transaction], Awaitable[object]]) -> object:
    """What ``write`` returned inside a transaction that then failed."""
    seen: list[object] = []

    async def run() -> None:
        async with store.transaction() as tx:
            seen.append(await write(tx))
            raise Boom

    with pytest.raises(Boom):
        await run()
    return seen[0]


def running(target: str) -> ExecutionDraft:
    return ExecutionDraft(
        started_at=T0, driver="serviceUpgrade", target=target, result="upgrading",
        message="upgrading", duration_ms=0.0, receiver_id=R1, status="running",
    )  # fmt: skip


async def start(store: Store, target: str, *, fail: bool = False) -> None:
    async with store.transaction() as tx:
        execution = await store.executions.add(running(target), tx=tx)
        await store.rollouts.add(
            execution_id=execution.id,
            target=target,
            image="nginx:2",
            previous="nginx:1",
            strategy={"batch_size": 1},
            tx=tx,
        )
        if fail:
            raise Boom


async def test_an_execution_and_its_rollout_land_together(store: Store) -> None:
    await start(store, "local/web")
    (record,) = await store.rollouts.unfinished()
    (execution,) = await store.executions.page()
    assert record.execution_id == execution.id
    assert (record.target, record.phase, execution.status) == ("local/web", "rolling", "running")


async def test_a_failed_transaction_leaves_neither(store: Store) -> None:
    with pytest.raises(Boom):
        await start(store, "local/web", fail=True)
    assert await store.rollouts.unfinished() == []
    assert await store.executions.page() == []
    await start(store, "local/api")  # the write queue is free again
    assert [r.target for r in await store.rollouts.unfinished()] == ["local/api"]


async def test_incident_marks_join_the_executions_transaction(store: Store) -> None:
    mark = IncidentMark("fp", T0, fired=True, shared=True)
    draft = ExecutionDraft(
        started_at=T0, driver="scaleService", target="local/web", result="scaled",
        message="", duration_ms=1.0, receiver_id=R1, before=1, after=2,
    )  # fmt: skip
    await rolled_back(store, lambda tx: store.executions.add(draft, marks=(mark,), tx=tx))
    assert await store.incidents.find(receiver_id=R1, dry_run=False, keys=[mark.key]) == {}
    assert await store.executions.page() == []
    execution = await store.executions.add(draft, marks=(mark,))
    found = await store.incidents.find(receiver_id=R1, dry_run=False, keys=[mark.key])
    assert found[mark.key].batch == execution.id
    assert await store.executions.page() == [execution]


async def test_a_receiver_change_is_seen_in_its_transaction_and_by_key_after_it(
    store: Store,
) -> None:
    made = await store.receivers.add(
        name="r", driver="scaleService", config={}, key_hash=hash_key("k"), enabled=True
    )
    assert await store.receivers.by_key(hash_key("k")) == made
    changed = await rolled_back(
        store, lambda tx: store.receivers.update(made.id, enabled=False, tx=tx)
    )
    assert isinstance(changed, Receiver)
    assert (changed.id, changed.enabled) == (made.id, False)  # read through the transaction
    assert await store.receivers.by_key(hash_key("k")) == made
    async with store.transaction() as tx:
        await store.receivers.update(made.id, enabled=False, tx=tx)
    found = await store.receivers.by_key(hash_key("k"))
    assert found is not None
    assert not found.enabled
