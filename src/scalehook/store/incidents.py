"""Alert memory: the incidents each receiver acted on, so that dedupe survives a
restart. Written only with the execution that taught it (``ExecutionRepository.add``)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import RowMapping, and_, delete, insert, select, update

from scalehook.domain.executions import ExecutionId
from scalehook.domain.incidents import Incident, IncidentKey, IncidentMark
from scalehook.domain.receivers import ReceiverId
from scalehook.store import tables
from scalehook.store.database import Database, Transaction, chunks, utc

# Resolved incidents are forgotten after this long: Alertmanager stops re-sending a
# resolved alert once it has delivered it.
FORGET_RESOLVED = timedelta(days=7)


class IncidentRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def find(
        self, *, receiver_id: ReceiverId, dry_run: bool, keys: Collection[IncidentKey]
    ) -> dict[IncidentKey, Incident]:
        """The remembered incidents among ``keys``, and every incident that shares a
        batch with one of them (to know whether the batch still has one firing)."""
        if not keys:
            return {}
        t = tables.alert_incidents
        mine = (t.c.receiver_id == receiver_id) & (t.c.dry_run == dry_run)
        wanted = {(fp, utc(at)) for fp, at in keys}
        fingerprints = sorted({fp for fp, _ in wanted})
        found: dict[IncidentKey, Incident] = {}
        async with self._db.read() as conn:
            for chunk in chunks(fingerprints, 500):
                rows = (
                    await conn.execute(select(t).where(mine & t.c.fingerprint.in_(chunk)))
                ).mappings()
                for row in rows:
                    incident = _incident(row)
                    if incident.key in wanted:
                        found[incident.key] = incident
            batches = sorted({i.batch for i in found.values() if i.batch is not None})
            for chunk in chunks(batches, 500):
                rows = (await conn.execute(select(t).where(mine & t.c.batch.in_(chunk)))).mappings()
                for row in rows:
                    incident = _incident(row)
                    found.setdefault(incident.key, incident)
        return found

    async def remember(
        self,
        *,
        receiver_id: ReceiverId,
        dry_run: bool,
        marks: tuple[IncidentMark, ...],
        execution_id: ExecutionId,
        now: datetime,
        tx: Transaction | None = None,
    ) -> None:
        """Apply marks as ``incidents.remember`` does in memory, and forget old resolves."""
        t = tables.alert_incidents
        mine = (t.c.receiver_id == receiver_id) & (t.c.dry_run == dry_run)
        async with self._db.write(tx) as w:
            conn = w.conn
            for mark in marks:
                where = and_(
                    mine, t.c.fingerprint == mark.fingerprint, t.c.starts_at == utc(mark.starts_at)
                )
                if mark.fired:
                    await conn.execute(delete(t).where(where))
                    await conn.execute(
                        insert(t).values(
                            receiver_id=receiver_id,
                            dry_run=dry_run,
                            fingerprint=mark.fingerprint,
                            starts_at=utc(mark.starts_at),
                            fired_at=now,
                            fired_execution_id=execution_id,
                            batch=execution_id if mark.shared else None,
                            owes=mark.owes,
                            resolved_at=None,
                        )
                    )
                else:
                    await conn.execute(update(t).where(where).values(resolved_at=now))
            await conn.execute(delete(t).where(mine & (t.c.resolved_at < now - FORGET_RESOLVED)))

    async def forget_receiver(
        self, receiver_id: ReceiverId, *, tx: Transaction | None = None
    ) -> None:
        """Drop everything a receiver remembered (it is being deleted)."""
        t = tables.alert_incidents
        async with self._db.write(tx) as w:
            await w.conn.execute(delete(t).where(t.c.receiver_id == receiver_id))


def _incident(row: RowMapping) -> Incident:
    return Incident(
        fingerprint=row["fingerprint"],
        starts_at=utc(row["starts_at"]),
        batch=row["batch"],
        owes=bool(row["owes"]),
        resolved=row["resolved_at"] is not None,
    )
