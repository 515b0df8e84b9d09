"""Receivers, and the trigger's hot path: a receiver found by its key's hash, from
memory once seen (SQLite on the loop only)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import RowMapping, delete, insert, select, update

from scalehook.domain.receivers import Receiver, ReceiverId
from scalehook.errors import ReceiverNotFound
from scalehook.store import tables
from scalehook.store.database import Database, Transaction, new_id, unique_name, utc
from scalehook.store.incidents import IncidentRepository

_CACHED_RECEIVERS = 100_000


class ReceiverRepository:
    def __init__(self, db: Database, incidents: IncidentRepository) -> None:
        self._db = db
        self._incidents = incidents
        # Receivers by key hash, for the trigger's hot path. Only on the loop's thread:
        # one scalehook owns the file, every change goes through this object, and a read
        # never yields to the loop, so no change can commit while a read is under way.
        self._by_key: dict[str, Receiver] | None = {} if db.on_loop else None

    async def add(
        self,
        *,
        name: str,
        driver: str,
        config: Mapping[str, Any],
        key_hash: str,
        enabled: bool,
        dry_run: bool = False,
        paused: bool = False,
        tx: Transaction | None = None,
    ) -> Receiver:
        now = datetime.now(UTC)
        values = {
            "name": name,
            "driver": driver,
            "config": dict(config),
            "key_hash": key_hash,
            "enabled": enabled,
            "dry_run": dry_run,
            "paused": paused,
            "created_at": now,
            "updated_at": now,
        }
        with unique_name("receiver", name):
            async with self._db.write(tx) as w:
                result = await w.conn.execute(insert(tables.receivers).values(values))
                receiver_id = ReceiverId(new_id(result.inserted_primary_key))
        return _receiver({"id": receiver_id, **values})

    async def get(self, receiver_id: ReceiverId, *, tx: Transaction | None = None) -> Receiver:
        row = await self._one(tables.receivers.c.id == receiver_id, tx)
        if row is None:
            raise ReceiverNotFound(f"no receiver with id {receiver_id}")
        return row

    async def by_name(self, name: str) -> Receiver:
        row = await self._one(tables.receivers.c.name == name)
        if row is None:
            raise ReceiverNotFound(f"no receiver named {name!r}")
        return row

    async def by_key(self, key_hash: str) -> Receiver | None:
        """The receiver a trigger key belongs to; served from memory once seen."""
        cache = self._by_key
        if cache is not None and (known := cache.get(key_hash)) is not None:
            return known
        receiver = await self._one(tables.receivers.c.key_hash == key_hash)
        if receiver is not None and cache is not None:
            if len(cache) >= _CACHED_RECEIVERS:
                cache.clear()
            cache[key_hash] = receiver
        return receiver

    async def all(self) -> list[Receiver]:
        async with self._db.read() as conn:
            rows = (
                await conn.execute(select(tables.receivers).order_by(tables.receivers.c.id))
            ).mappings()
            return [_receiver(row) for row in rows]

    async def update(
        self, receiver_id: ReceiverId, *, tx: Transaction | None = None, **values: Any
    ) -> Receiver:
        values["updated_at"] = datetime.now(UTC)
        with unique_name("receiver", values.get("name")):
            async with self._db.write(tx) as w:
                w.after(self._forget)
                result = await w.conn.execute(
                    update(tables.receivers)
                    .where(tables.receivers.c.id == receiver_id)
                    .values(values)
                )
                if result.rowcount == 0:
                    raise ReceiverNotFound(f"no receiver with id {receiver_id}")
                return await self.get(receiver_id, tx=w)

    async def delete(self, receiver_id: ReceiverId, *, tx: Transaction | None = None) -> None:
        """Delete a receiver and, in the same transaction, its alert memory."""
        async with self._db.write(tx) as w:
            w.after(self._forget)
            result = await w.conn.execute(
                delete(tables.receivers).where(tables.receivers.c.id == receiver_id)
            )
            if result.rowcount == 0:
                raise ReceiverNotFound(f"no receiver with id {receiver_id}")
            await self._incidents.forget_receiver(receiver_id, tx=w)

    def _forget(self) -> None:
        """Called once a change to receivers is committed (or failed)."""
        if self._by_key is not None:
            self._by_key.clear()

    async def _one(self, where: Any, tx: Transaction | None = None) -> Receiver | None:
        async with self._db.read(tx) as conn:
            row = (await conn.execute(select(tables.receivers).where(where))).mappings().first()
        return None if row is None else _receiver(row)


def _receiver(row: RowMapping | Mapping[str, Any]) -> Receiver:
    return Receiver(
        id=ReceiverId(row["id"]),
        name=row["name"],
        driver=row["driver"],
        config=dict(row["config"]),
        enabled=bool(row["enabled"]),
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
        dry_run=bool(row["dry_run"]),
        paused=bool(row["paused"]),
    )
