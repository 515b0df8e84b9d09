"""The same queries on every way the store runs (the ``store`` fixture): SQLite on the
event loop's thread (the default), SQLite through the async engine, and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scalehook.domain.executions import ExecutionDraft, Result
from scalehook.domain.receivers import ReceiverId, hash_key
from scalehook.errors import Conflict, ReceiverNotFound
from scalehook.store import Store

CONFIG = {"service": "web", "action": "up", "amount": 1, "min": 1, "max": 3}


def draft(receiver_id: int, target: str, result: Result = "scaled") -> ExecutionDraft:
    return ExecutionDraft(
        started_at=datetime.now(UTC), driver="scaleService", target=target, result=result,
        message="m", duration_ms=0.5, receiver_id=ReceiverId(receiver_id), receiver_name="r",
        before=1, after=2, details={"k": [1, 2]},
    )  # fmt: skip


async def test_receivers_round_trip(store: Store) -> None:
    made = await store.receivers.add(
        name="r", driver="scaleService", config=CONFIG, key_hash=hash_key("k"), enabled=True
    )
    assert await store.receivers.get(made.id) == made
    assert await store.receivers.by_name("r") == made
    assert await store.receivers.by_key(hash_key("k")) == made
    assert await store.receivers.by_key(hash_key("other")) is None
    with pytest.raises(Conflict):
        await store.receivers.add(
            name="r", driver="scaleService", config=CONFIG, key_hash=hash_key("k2"), enabled=True
        )
    changed = await store.receivers.update(made.id, paused=True)
    assert changed.paused
    await store.receivers.delete(made.id)
    with pytest.raises(ReceiverNotFound):
        await store.receivers.get(ReceiverId(made.id))


async def test_executions_are_stored_and_paged(store: Store) -> None:
    ids = [(await store.executions.add(draft(1, f"local/s{i % 2}"))).id for i in range(5)]
    assert ids == sorted(ids)
    newest = await store.executions.page(limit=2)
    assert [e.id for e in newest] == ids[:-3:-1]
    assert newest[0].details == {"k": [1, 2]}
    assert [e.id for e in await store.executions.page(targets=["local/s0"])] == ids[::-2]
    assert [e.id for e in await store.executions.page(before=ids[2])] == ids[1::-1]
    assert (await store.executions.get(ids[0])).target == "local/s0"
    last = await store.executions.last_actions(receiver_id=ReceiverId(1), target="local/s1")
    assert last["up"] is not None
    assert last["down"] is None
