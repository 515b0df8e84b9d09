"""Notifications, and the list the recorder matches every finished execution against,
kept in memory and refreshed on change.

The list is read inside the transaction that records an execution, so it must cost
nothing there: it is loaded once, dropped when this process changes a notification,
and (when several instances may share the database, i.e. not SQLite on the loop)
reloaded once it is older than ``ttl`` seconds, so a change made by another instance
is seen within that time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import RowMapping, delete, insert, select, update

from scalehook.domain.notifications import Notification, NotificationId, NotificationSpec
from scalehook.errors import NotificationNotFound
from scalehook.store import tables
from scalehook.store.database import Database, Transaction, new_id, unique_name, utc


class NotificationRepository:
    def __init__(self, db: Database, *, ttl: float = 5.0) -> None:
        self._db = db
        self.ttl = ttl
        self._active: tuple[Notification, ...] | None = None
        self._loaded_at = 0.0

    async def add(self, spec: NotificationSpec, *, tx: Transaction | None = None) -> Notification:
        now = datetime.now(UTC)
        values = {**_values(spec), "created_at": now, "updated_at": now}
        with unique_name("notification", spec.name):
            async with self._db.write(tx) as w:
                w.after(self.forget)
                result = await w.conn.execute(insert(tables.notifications).values(values))
                ident = NotificationId(new_id(result.inserted_primary_key))
        return _notification({"id": ident, **values})

    async def get(self, ident: NotificationId, *, tx: Transaction | None = None) -> Notification:
        found = await self._one(tables.notifications.c.id == ident, tx)
        if found is None:
            raise NotificationNotFound(f"no notification with id {ident}")
        return found

    async def find(self, ident: NotificationId) -> Notification | None:
        """The notification, or None when it has been deleted."""
        return await self._one(tables.notifications.c.id == ident)

    async def by_name(self, name: str) -> Notification:
        found = await self._one(tables.notifications.c.name == name)
        if found is None:
            raise NotificationNotFound(f"no notification named {name!r}")
        return found

    async def all(self, *, tx: Transaction | None = None) -> list[Notification]:
        t = tables.notifications
        async with self._db.read(tx) as conn:
            rows = (await conn.execute(select(t).order_by(t.c.id))).mappings()
            return [_notification(row) for row in rows]

    async def active(
        self, *, now: float, tx: Transaction | None = None
    ) -> tuple[Notification, ...]:
        """The enabled notifications, from memory (``now``: the monotonic clock, for the
        reload of a list that may have changed on another instance)."""
        cached = self._active
        stale = not self._db.on_loop and now - self._loaded_at >= self.ttl
        if cached is None or stale:
            cached = tuple(n for n in await self.all(tx=tx) if n.enabled)
            self._active, self._loaded_at = cached, now
        return cached

    async def update(
        self, ident: NotificationId, spec: NotificationSpec, *, tx: Transaction | None = None
    ) -> Notification:
        values: dict[str, Any] = {**_values(spec), "updated_at": datetime.now(UTC)}
        with unique_name("notification", spec.name):
            async with self._db.write(tx) as w:
                w.after(self.forget)
                result = await w.conn.execute(
                    update(tables.notifications)
                    .where(tables.notifications.c.id == ident)
                    .values(values)
                )
                if result.rowcount == 0:
                    raise NotificationNotFound(f"no notification with id {ident}")
                return await self.get(ident, tx=w)

    async def delete(self, ident: NotificationId, *, tx: Transaction | None = None) -> None:
        """Delete a notification and, in the same transaction, its deliveries."""
        async with self._db.write(tx) as w:
            w.after(self.forget)
            result = await w.conn.execute(
                delete(tables.notifications).where(tables.notifications.c.id == ident)
            )
            if result.rowcount == 0:
                raise NotificationNotFound(f"no notification with id {ident}")
            d = tables.notification_deliveries
            await w.conn.execute(delete(d).where(d.c.notification_id == ident))

    def forget(self) -> None:
        """Drop the list in memory (called once a change has committed, or failed)."""
        self._active = None

    async def _one(self, where: Any, tx: Transaction | None = None) -> Notification | None:
        async with self._db.read(tx) as conn:
            row = (await conn.execute(select(tables.notifications).where(where))).mappings().first()
        return None if row is None else _notification(row)


def _values(spec: NotificationSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "type": spec.type,
        "config": dict(spec.config),
        "filters": dict(spec.on),
        "enabled": spec.enabled,
    }


def _notification(row: RowMapping | Mapping[str, Any]) -> Notification:
    return Notification(
        id=NotificationId(row["id"]),
        name=row["name"],
        type=row["type"],
        config=dict(row["config"]),
        on={k: list(v) for k, v in dict(row["filters"] or {}).items()},
        enabled=bool(row["enabled"]),
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
    )
