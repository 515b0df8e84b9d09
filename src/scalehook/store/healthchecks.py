"""Health checks set through the API, one per service ref, in ``healthchecks``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import RowMapping, delete, insert, select, update

from scalehook.domain.healthchecks import HealthCheckSpec
from scalehook.store import tables
from scalehook.store.database import Database, utc


@dataclass(frozen=True, slots=True)
class StoredHealthCheck:
    service: str  # the service's ref, backend/name
    spec: HealthCheckSpec
    created_at: datetime
    updated_at: datetime


class HealthCheckRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def list(self) -> list[StoredHealthCheck]:
        t = tables.healthchecks
        async with self._db.read() as conn:
            rows = (await conn.execute(select(t).order_by(t.c.service))).mappings()
            return [_check(row) for row in rows]

    async def get(self, service: str) -> StoredHealthCheck | None:
        t = tables.healthchecks
        async with self._db.read() as conn:
            row = (await conn.execute(select(t).where(t.c.service == service))).mappings().first()
        return None if row is None else _check(row)

    async def put(self, service: str, spec: HealthCheckSpec) -> StoredHealthCheck:
        """Set the service's check (created, or replaced whole); unchanged when the same."""
        t = tables.healthchecks
        now = datetime.now(UTC)
        body = spec.shown()
        async with self._db.write() as w:
            found = (
                (await w.conn.execute(select(t).where(t.c.service == service))).mappings().first()
            )
            if found is None:
                await w.conn.execute(
                    insert(t).values(service=service, spec=body, created_at=now, updated_at=now)
                )
                return StoredHealthCheck(service, spec, now, now)
            if dict(found["spec"]) == body:
                return _check(found)
            await w.conn.execute(
                update(t).where(t.c.service == service).values(spec=body, updated_at=now)
            )
            return StoredHealthCheck(service, spec, utc(found["created_at"]), now)

    async def delete(self, service: str) -> bool:
        """Forget the service's check; False when it had none."""
        t = tables.healthchecks
        async with self._db.write() as w:
            result = await w.conn.execute(delete(t).where(t.c.service == service))
        return bool(result.rowcount)


def _check(row: RowMapping) -> StoredHealthCheck:
    return StoredHealthCheck(
        service=row["service"],
        spec=HealthCheckSpec.model_validate(row["spec"]),
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
    )
