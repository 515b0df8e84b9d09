"""The trigger reads receivers by key from memory: every change must show at once."""

from __future__ import annotations

import pytest

from scalehook.domain.receivers import hash_key
from scalehook.errors import Conflict
from scalehook.store import Store

CONFIG = {"service": "web", "action": "up", "amount": 1, "min": 1, "max": 3}


async def test_changes_to_a_cached_receiver_show_at_once(store: Store) -> None:
    created = await store.receivers.add(
        name="r", driver="scaleService", config=CONFIG, key_hash=hash_key("k1"), enabled=True
    )
    assert await store.receivers.by_key(hash_key("k1")) == created
    assert await store.receivers.by_key(hash_key("k1")) == created  # now from memory

    await store.receivers.update(created.id, enabled=False)
    found = await store.receivers.by_key(hash_key("k1"))
    assert found is not None and not found.enabled

    await store.receivers.update(created.id, enabled=True, config={**CONFIG, "max": 9})
    found = await store.receivers.by_key(hash_key("k1"))
    assert found is not None and found.enabled and found.config["max"] == 9

    await store.receivers.update(created.id, key_hash=hash_key("k2"))  # rotate
    assert await store.receivers.by_key(hash_key("k1")) is None
    assert await store.receivers.by_key(hash_key("k2")) is not None

    await store.receivers.delete(created.id)
    assert await store.receivers.by_key(hash_key("k2")) is None


async def test_a_failed_change_keeps_answers_right(store: Store) -> None:
    first = await store.receivers.add(
        name="a", driver="scaleService", config=CONFIG, key_hash=hash_key("a"), enabled=True
    )
    await store.receivers.add(
        name="b", driver="scaleService", config=CONFIG, key_hash=hash_key("b"), enabled=True
    )
    assert await store.receivers.by_key(hash_key("a")) == first
    with pytest.raises(Conflict):
        await store.receivers.update(first.id, name="b")
    assert await store.receivers.by_key(hash_key("a")) == first
