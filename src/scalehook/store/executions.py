"""The audit trail: executions added (with the alert memory they teach, in one
transaction), updated while a rollout runs, read back by page and for cooldowns."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import RowMapping, func, insert, select, update

from scalehook.domain.decisions import ACTING, Direction
from scalehook.domain.executions import Execution, ExecutionDraft, ExecutionId, Result, Status
from scalehook.domain.incidents import IncidentMark
from scalehook.domain.receivers import ReceiverId
from scalehook.errors import NotFound
from scalehook.store import tables
from scalehook.store.database import Database, Transaction, new_id, utc, utc_or_none
from scalehook.store.incidents import IncidentRepository

# One prepared statement, given parameters: building a statement from values costs
# more than SQLite's insert.
_INSERT = insert(tables.executions)
_FIELDS = tuple(f.name for f in dataclasses.fields(ExecutionDraft))


class ExecutionRepository:
    def __init__(self, db: Database, incidents: IncidentRepository) -> None:
        self._db = db
        self._incidents = incidents

    async def add(
        self,
        draft: ExecutionDraft,
        *,
        marks: tuple[IncidentMark, ...] = (),
        dry_run: bool = False,
        tx: Transaction | None = None,
    ) -> Execution:
        """Record an execution and, in the same transaction, what it taught the
        receiver about alert incidents (``marks``): both are written, or neither."""
        # A shallow copy: ``asdict`` deep-copies details.
        values = {name: getattr(draft, name) for name in _FIELDS}
        async with self._db.write(tx) as w:
            result = await w.conn.execute(_INSERT, values)
            execution_id = ExecutionId(new_id(result.inserted_primary_key))
            if marks and draft.receiver_id is not None:
                await self._incidents.remember(
                    receiver_id=draft.receiver_id,
                    dry_run=dry_run,
                    marks=marks,
                    execution_id=execution_id,
                    now=draft.started_at,
                    tx=w,
                )
        return Execution(id=execution_id, **values)

    async def get(self, execution_id: ExecutionId, *, tx: Transaction | None = None) -> Execution:
        t = tables.executions
        async with self._db.read(tx) as conn:
            row = (await conn.execute(select(t).where(t.c.id == execution_id))).mappings().first()
        if row is None:
            raise NotFound(f"no execution with id {execution_id}")
        return _execution(row)

    async def update(
        self,
        execution_id: ExecutionId,
        *,
        result: Result | None = None,
        message: str | None = None,
        details: dict[str, Any] | None = None,
        status: Status | None = None,
        duration_ms: float | None = None,
        tx: Transaction | None = None,
    ) -> None:
        """Change a running execution; what is ``None`` keeps its value."""
        given = {
            "result": result,
            "message": message,
            "details": details,
            "status": status,
            "duration_ms": duration_ms,
        }
        values: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        values["updated_at"] = datetime.now(UTC)
        t = tables.executions
        async with self._db.write(tx) as w:
            await w.conn.execute(update(t).where(t.c.id == execution_id).values(values))

    async def page(
        self,
        *,
        receiver_id: ReceiverId | None = None,
        receiver_name: str | None = None,
        targets: list[str] | None = None,
        result: Result | None = None,
        status: Status | None = None,
        limit: int = 50,
        before: ExecutionId | None = None,
        after: ExecutionId | None = None,
    ) -> list[Execution]:
        """Newest first; ``before``/``after`` page by id."""
        t = tables.executions
        query = select(t)
        if result is not None:
            query = query.where(t.c.result == result)
        if status is not None:
            query = query.where(t.c.status == status)
        if receiver_id is not None:
            query = query.where(t.c.receiver_id == receiver_id)
        if receiver_name is not None:
            query = query.where(t.c.receiver_name == receiver_name)
        if targets is not None:
            query = query.where(t.c.target.in_(targets))
        if before is not None:
            query = query.where(t.c.id < before)
        if after is not None:
            query = query.where(t.c.id > after)
        query = query.order_by(t.c.id.desc()).limit(limit)
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).mappings()
            return [_execution(row) for row in rows]

    async def last_actions(
        self, *, receiver_id: ReceiverId, target: str, dry_run: bool = False
    ) -> dict[Direction, datetime | None]:
        """When this receiver last moved the target up, and down (from the audit trail)."""
        t = tables.executions
        results = ("dry_run",) if dry_run else tuple(ACTING)
        base = (t.c.receiver_id == receiver_id) & (t.c.target == target) & t.c.result.in_(results)
        async with self._db.read() as conn:
            up = (
                await conn.execute(
                    select(func.max(t.c.started_at)).where(base & (t.c.after > t.c.before))
                )
            ).scalar()
            down = (
                await conn.execute(
                    select(func.max(t.c.started_at)).where(base & (t.c.after < t.c.before))
                )
            ).scalar()
        return {"up": utc_or_none(up), "down": utc_or_none(down)}

    async def scalings(self, *, driver: str, since: datetime) -> list[Execution]:
        """The executions of ``driver`` since ``since`` that moved a count (scaled or
        clamped, not in dry run), oldest first: what a policy's rate rules count."""
        t = tables.executions
        query = (
            select(t)
            .where(
                (t.c.driver == driver)
                & (t.c.started_at >= since)
                & t.c.result.in_(tuple(ACTING))
                & (t.c.before != t.c.after)
            )
            .order_by(t.c.id)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).mappings()
            return [_execution(row) for row in rows]

    async def last_scaling(self, *, driver: str, receiver_name: str) -> Execution | None:
        """The newest execution of ``driver`` under ``receiver_name`` that moved a count:
        why a policy last scaled, on any instance and after a restart."""
        t = tables.executions
        query = (
            select(t)
            .where(
                (t.c.driver == driver)
                & (t.c.receiver_name == receiver_name)
                & t.c.result.in_(tuple(ACTING))
                & (t.c.before != t.c.after)
            )
            .order_by(t.c.id.desc())
            .limit(1)
        )
        async with self._db.read() as conn:
            row = (await conn.execute(query)).mappings().first()
            return None if row is None else _execution(row)


def _execution(row: RowMapping) -> Execution:
    receiver_id = row["receiver_id"]
    return Execution(
        id=ExecutionId(row["id"]),
        started_at=utc(row["started_at"]),
        receiver_id=None if receiver_id is None else ReceiverId(receiver_id),
        receiver_name=row["receiver_name"],
        driver=row["driver"],
        target=row["target"],
        caller=row["caller"],
        result=row["result"],
        before=row["before"],
        after=row["after"],
        message=row["message"],
        duration_ms=row["duration_ms"],
        details=dict(row["details"] or {}),
        status=row["status"],
        updated_at=None if row["updated_at"] is None else utc(row["updated_at"]),
    )
