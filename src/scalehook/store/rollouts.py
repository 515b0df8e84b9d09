"""Rollouts, kept so that a restart can finish them, and listed for rollout control. A
rollout's row is added in the transaction that records its running execution
(``Store.transaction``); what an operator asked of it (pause, a cancel or a rollback)
is kept in the row too, so that a restart obeys it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import RowMapping, insert, select, update

from scalehook.domain.executions import ExecutionId
from scalehook.domain.upgrades import RolloutId, RolloutRecord
from scalehook.errors import RolloutNotFound
from scalehook.store import tables
from scalehook.store.database import Database, Transaction, new_id, utc


class RolloutRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self,
        *,
        execution_id: ExecutionId,
        target: str,
        image: str,
        previous: str | None,
        strategy: Mapping[str, Any],
        tx: Transaction | None = None,
    ) -> RolloutId:
        """A rollout starting (phase ``rolling``) for its running execution."""
        now = datetime.now(UTC)
        async with self._db.write(tx) as w:
            result = await w.conn.execute(
                insert(tables.rollouts).values(
                    execution_id=execution_id,
                    target=target,
                    image=image,
                    previous=previous,
                    strategy=dict(strategy),
                    phase="rolling",
                    created_at=now,
                    updated_at=now,
                )
            )
        return RolloutId(new_id(result.inserted_primary_key))

    async def set_phase(
        self, rollout_id: RolloutId, phase: str, *, tx: Transaction | None = None
    ) -> None:
        t = tables.rollouts
        async with self._db.write(tx) as w:
            await w.conn.execute(
                update(t)
                .where(t.c.id == rollout_id)
                .values(phase=phase, updated_at=datetime.now(UTC))
            )

    async def claim(
        self, rollout_id: RolloutId, instance: str, *, tx: Transaction | None = None
    ) -> None:
        """``instance`` runs the rollout from now on."""
        t = tables.rollouts
        async with self._db.write(tx) as w:
            await w.conn.execute(
                update(t)
                .where(t.c.id == rollout_id)
                .values(instance=instance, updated_at=datetime.now(UTC))
            )

    async def set_control(
        self,
        rollout_id: RolloutId,
        *,
        paused: bool,
        command: str | None,
        tx: Transaction | None = None,
    ) -> None:
        """What an operator asked of the rollout: paused or not, and a cancel or rollback."""
        t = tables.rollouts
        async with self._db.write(tx) as w:
            await w.conn.execute(
                update(t)
                .where(t.c.id == rollout_id)
                .values(paused=paused, command=command, updated_at=datetime.now(UTC))
            )

    async def get(self, rollout_id: RolloutId) -> RolloutRecord:
        t = tables.rollouts
        async with self._db.read() as conn:
            row = (await conn.execute(select(t).where(t.c.id == rollout_id))).mappings().first()
        if row is None:
            raise RolloutNotFound(f"no rollout with id {rollout_id}")
        return _record(row)

    async def page(
        self, *, targets: list[str] | None = None, running: bool | None = None, limit: int = 20
    ) -> list[RolloutRecord]:
        """Newest first; ``running`` True: not done yet, False: done."""
        t = tables.rollouts
        query = select(t)
        if targets is not None:
            query = query.where(t.c.target.in_(targets))
        if running is True:
            query = query.where(t.c.phase != "done")
        elif running is False:
            query = query.where(t.c.phase == "done")
        query = query.order_by(t.c.id.desc()).limit(limit)
        async with self._db.read() as conn:
            return [_record(row) for row in (await conn.execute(query)).mappings()]

    async def unfinished(self, *, tx: Transaction | None = None) -> list[RolloutRecord]:
        """Rollouts not done (running, or left by an instance that stopped), oldest
        first."""
        t = tables.rollouts
        async with self._db.read(tx) as conn:
            rows = (
                await conn.execute(select(t).where(t.c.phase != "done").order_by(t.c.id))
            ).mappings()
            return [_record(row) for row in rows]


def _record(row: RowMapping) -> RolloutRecord:
    return RolloutRecord(
        id=RolloutId(row["id"]),
        execution_id=ExecutionId(row["execution_id"]),
        target=row["target"],
        image=row["image"],
        previous=row["previous"],
        strategy=dict(row["strategy"]),
        phase=row["phase"],
        instance=row["instance"],
        paused=bool(row["paused"]),
        command=row["command"],
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
    )
