"""A service's revisions in the ``revisions`` table: numbered per target from 1, written
by the recorder in the transaction of the execution that makes each one (``recording.py``),
their outcome kept in step with that execution's result."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import RowMapping, func, insert, select, update

from scalehook.domain.executions import Execution, ExecutionId
from scalehook.domain.receivers import ReceiverId
from scalehook.domain.revisions import INITIAL, Revision, RevisionDraft
from scalehook.store import tables
from scalehook.store.database import Database, Transaction, utc

FIRST_REASON = "what the service ran when scalehook first changed it"


class RevisionRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def next_number(
        self, target: str, *, first_image: str | None, at: datetime, tx: Transaction
    ) -> int:
        """The number the next revision of ``target`` takes. A target without revisions
        gets revision 1 first: ``first_image``, what it ran before this change."""
        t = tables.revisions
        async with self._db.write(tx) as w:
            top = (
                await w.conn.execute(select(func.max(t.c.number)).where(t.c.target == target))
            ).scalar()
            if top is not None:
                return int(top) + 1
            await w.conn.execute(
                insert(t).values(
                    target=target,
                    number=1,
                    change="image",
                    image=first_image,
                    previous_image=None,
                    resources=None,
                    reason=FIRST_REASON,
                    outcome=INITIAL,
                    created_at=at,
                    updated_at=at,
                )
            )
        return 2

    async def add(
        self, draft: RevisionDraft, *, number: int, execution: Execution, tx: Transaction
    ) -> None:
        """Revision ``number`` of the execution's target, made by ``execution``."""
        assert execution.target is not None
        async with self._db.write(tx) as w:
            await w.conn.execute(
                insert(tables.revisions).values(
                    target=execution.target,
                    number=number,
                    change=draft.change,
                    image=draft.image,
                    previous_image=draft.previous_image,
                    resources=None if draft.resources is None else dict(draft.resources),
                    reason=draft.reason,
                    outcome=execution.result,
                    execution_id=execution.id,
                    driver=execution.driver,
                    receiver_id=execution.receiver_id,
                    receiver_name=execution.receiver_name,
                    caller=execution.caller,
                    rollback_of=draft.rollback_of,
                    created_at=execution.started_at,
                    updated_at=execution.started_at,
                )
            )

    async def set_outcome(
        self, execution_id: ExecutionId, outcome: str, *, at: datetime, tx: Transaction
    ) -> None:
        """The revision made by ``execution_id`` (if one was) takes its new result."""
        t = tables.revisions
        async with self._db.write(tx) as w:
            await w.conn.execute(
                update(t)
                .where((t.c.execution_id == execution_id) & (t.c.outcome != outcome))
                .values(outcome=outcome, updated_at=at)
            )

    async def of(self, target: str) -> list[Revision]:
        """Every revision of ``target``, oldest first."""
        t = tables.revisions
        async with self._db.read() as conn:
            rows = (
                await conn.execute(select(t).where(t.c.target == target).order_by(t.c.number))
            ).mappings()
            return [_revision(row) for row in rows]

    async def by_execution(self, execution_id: ExecutionId) -> Revision | None:
        t = tables.revisions
        async with self._db.read() as conn:
            row = (
                (await conn.execute(select(t).where(t.c.execution_id == execution_id)))
                .mappings()
                .first()
            )
        return None if row is None else _revision(row)


def _revision(row: RowMapping) -> Revision:
    execution_id, receiver_id = row["execution_id"], row["receiver_id"]
    return Revision(
        target=row["target"],
        number=row["number"],
        change=row["change"],
        image=row["image"],
        previous_image=row["previous_image"],
        resources=None if row["resources"] is None else dict(row["resources"]),
        reason=row["reason"],
        outcome=row["outcome"],
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
        execution_id=None if execution_id is None else ExecutionId(execution_id),
        driver=row["driver"],
        receiver_id=None if receiver_id is None else ReceiverId(receiver_id),
        receiver_name=row["receiver_name"],
        caller=row["caller"],
        rollback_of=row["rollback_of"],
    )
