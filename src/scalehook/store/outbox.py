"""The notification outbox: deliveries written with the execution they report, claimed
by the delivery loops, and marked delivered, to retry, or failed.

Claiming is safe with several instances on one database: due rows are selected with
``FOR UPDATE SKIP LOCKED`` (PostgreSQL; SQLite ignores the clause) and leased to one
instance until ``claimed_until`` by an update that checks again that they are due (a
compare-and-set, right without the locks too), so no two instances send one delivery
at once, and a delivery whose instance died is taken up again once
its lease has passed. Delivery is at least once: a webhook dedupes on the delivery id.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, case, delete, func, insert, or_, select, update

from scalehook.domain.notifications import (
    Delivery,
    DeliveryId,
    DeliveryStatus,
    Notification,
    NotificationId,
)
from scalehook.store import tables
from scalehook.store.database import Database, Transaction, utc, utc_or_none

_INSERT = insert(tables.notification_deliveries)


class OutboxRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def enqueue(
        self,
        notifications: Sequence[Notification],
        *,
        execution_id: int,
        payload: dict[str, Any],
        now: datetime,
        tx: Transaction | None = None,
    ) -> None:
        """One pending delivery of ``payload`` per notification, due now."""
        if not notifications:
            return
        rows = [
            {
                "notification_id": n.id,
                "notification_name": n.name,
                "execution_id": execution_id,
                "payload": payload,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for n in notifications
        ]
        async with self._db.write(tx) as w:
            await w.conn.execute(_INSERT, rows)

    async def claim(
        self, *, instance: str, now: datetime, until: datetime, limit: int
    ) -> list[Delivery]:
        """Lease up to ``limit`` due deliveries to ``instance`` until ``until``."""
        if limit <= 0:
            return []
        d = tables.notification_deliveries
        due = (
            (d.c.status == "pending")
            & (d.c.next_attempt_at <= now)
            & or_(d.c.claimed_until.is_(None), d.c.claimed_until < now)
        )
        async with self._db.write() as w:
            picked = await w.conn.execute(
                select(d.c.id)
                .where(due)
                .order_by(d.c.next_attempt_at, d.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            ids = [row[0] for row in picked]
            if not ids:
                return []
            # Due again in the update itself: where the select took no lock (SQLite, whose
            # driver begins the transaction only at the first write), another instance
            # may have claimed a row in between; it keeps it.
            await w.conn.execute(
                update(d)
                .where(d.c.id.in_(ids) & due)
                .values(claimed_by=instance, claimed_until=until)
            )
            mine = d.c.id.in_(ids) & (d.c.claimed_by == instance) & (d.c.claimed_until == until)
            rows = await w.conn.execute(select(d).where(mine).order_by(d.c.id))
            return [_delivery(row) for row in rows.mappings()]

    async def next_due(self) -> datetime | None:
        """When the next pending delivery may be claimed: it is due and its lease (if
        one holds it) has run out. None: none is pending."""
        d = tables.notification_deliveries
        claimable = case(
            (d.c.claimed_until > d.c.next_attempt_at, d.c.claimed_until),
            else_=d.c.next_attempt_at,
        )
        async with self._db.read() as conn:
            value = (
                await conn.execute(select(func.min(claimable)).where(d.c.status == "pending"))
            ).scalar()
        if isinstance(value, str):  # SQLite gives a computed time back as its text
            value = datetime.fromisoformat(value)
        return utc_or_none(value)

    async def delivered(self, ident: DeliveryId, *, attempts: int, now: datetime) -> None:
        await self._set(
            ident,
            status="delivered",
            attempts=attempts,
            delivered_at=now,
            updated_at=now,
            claimed_by=None,
            claimed_until=None,
        )

    async def retry(
        self, ident: DeliveryId, *, attempts: int, error: str, at: datetime, now: datetime
    ) -> None:
        """A try failed: try again at ``at``."""
        await self._set(
            ident,
            attempts=attempts,
            last_error=error,
            next_attempt_at=at,
            updated_at=now,
            claimed_by=None,
            claimed_until=None,
        )

    async def failed(self, ident: DeliveryId, *, attempts: int, error: str, now: datetime) -> None:
        """The last try failed, or the error is one no retry gets past: give up."""
        await self._set(
            ident,
            status="failed",
            attempts=attempts,
            last_error=error,
            updated_at=now,
            claimed_by=None,
            claimed_until=None,
        )

    async def drop(self, ident: DeliveryId) -> None:
        """Forget a delivery (its notification is gone)."""
        d = tables.notification_deliveries
        async with self._db.write() as w:
            await w.conn.execute(delete(d).where(d.c.id == ident))

    async def release(
        self, *, ids: Sequence[DeliveryId] | None = None, instance: str | None = None
    ) -> int:
        """Let go of leases: of ``ids`` held by ``instance`` (a loop stopping), or of every
        one (at the start of the only instance on its database: a killed run's leases
        would otherwise hold its deliveries back)."""
        d = tables.notification_deliveries
        where = (d.c.status == "pending") & d.c.claimed_by.is_not(None)
        if ids is not None:
            where &= d.c.id.in_(list(ids))
        if instance is not None:
            where &= d.c.claimed_by == instance
        async with self._db.write() as w:
            result = await w.conn.execute(
                update(d).where(where).values(claimed_by=None, claimed_until=None)
            )
            return int(result.rowcount or 0)

    async def retry_failed(self, notification: NotificationId, *, now: datetime) -> int:
        """Send a notification's failed deliveries again, from their first try."""
        d = tables.notification_deliveries
        async with self._db.write() as w:
            result = await w.conn.execute(
                update(d)
                .where((d.c.notification_id == notification) & (d.c.status == "failed"))
                .values(status="pending", attempts=0, next_attempt_at=now, updated_at=now)
            )
            return int(result.rowcount or 0)

    async def page(
        self,
        notification: NotificationId,
        *,
        status: DeliveryStatus | None = None,
        limit: int = 50,
        before: DeliveryId | None = None,
    ) -> list[Delivery]:
        """A notification's deliveries, newest first."""
        d = tables.notification_deliveries
        query = select(d).where(d.c.notification_id == notification)
        if status is not None:
            query = query.where(d.c.status == status)
        if before is not None:
            query = query.where(d.c.id < before)
        query = query.order_by(d.c.id.desc()).limit(limit)
        async with self._db.read() as conn:
            return [_delivery(row) for row in (await conn.execute(query)).mappings()]

    async def counts(self) -> dict[tuple[str, str], int]:
        """Deliveries held, by (notification name, status)."""
        d = tables.notification_deliveries
        query = select(d.c.notification_name, d.c.status, func.count()).group_by(
            d.c.notification_name, d.c.status
        )
        async with self._db.read() as conn:
            return {(name, status): int(n) for name, status, n in await conn.execute(query)}

    async def prune(self, *, before: datetime) -> int:
        """Forget deliveries that ended (delivered or failed) before ``before``."""
        d = tables.notification_deliveries
        async with self._db.write() as w:
            result = await w.conn.execute(
                delete(d).where((d.c.status != "pending") & (d.c.updated_at < before))
            )
            return int(result.rowcount or 0)

    async def _set(self, ident: DeliveryId, **values: Any) -> None:
        d = tables.notification_deliveries
        async with self._db.write() as w:
            await w.conn.execute(update(d).where(d.c.id == ident).values(values))


def _delivery(row: RowMapping) -> Delivery:
    return Delivery(
        id=DeliveryId(row["id"]),
        notification_id=NotificationId(row["notification_id"]),
        notification_name=row["notification_name"],
        execution_id=row["execution_id"],
        payload=dict(row["payload"]),
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=utc(row["next_attempt_at"]),
        last_error=row["last_error"],
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
        delivered_at=utc_or_none(row["delivered_at"]),
    )
