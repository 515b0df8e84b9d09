"""Policies: one row each, the body kept as given (JSON), found by id or name."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import RowMapping, delete, func, insert, select, update

from scalehook.domain.policy_records import PolicyId, PolicyRecord
from scalehook.errors import PolicyNotFound
from scalehook.store import tables
from scalehook.store.database import Database, Transaction, new_id, unique_name, utc, utc_or_none


class PolicyRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(
        self, *, name: str, service: str, body: Mapping[str, Any], tx: Transaction | None = None
    ) -> PolicyRecord:
        now = datetime.now(UTC)
        values = {
            "name": name,
            "service": service,
            "body": dict(body),
            "created_at": now,
            "updated_at": now,
        }
        with unique_name("policy", name):
            async with self._db.write(tx) as w:
                result = await w.conn.execute(insert(tables.policies).values(values))
                policy_id = PolicyId(new_id(result.inserted_primary_key))
        return _policy({"id": policy_id, **values})

    async def get(self, policy_id: PolicyId, *, tx: Transaction | None = None) -> PolicyRecord:
        found = await self._one(tables.policies.c.id == policy_id, tx)
        if found is None:
            raise PolicyNotFound(f"no policy with id {policy_id}")
        return found

    async def by_name(self, name: str) -> PolicyRecord:
        found = await self._one(tables.policies.c.name == name)
        if found is None:
            raise PolicyNotFound(f"no policy named {name!r}")
        return found

    async def all(self) -> list[PolicyRecord]:
        t = tables.policies
        async with self._db.read() as conn:
            rows = (await conn.execute(select(t).order_by(t.c.id))).mappings()
            return [_policy(row) for row in rows]

    async def version(self) -> tuple[int, int, datetime | None]:
        """How many policies there are, the highest id and the last change: a cheap
        question to ask before reading them all again."""
        t = tables.policies
        async with self._db.read() as conn:
            row: Any = (
                await conn.execute(select(func.count(), func.max(t.c.id), func.max(t.c.updated_at)))
            ).one()
        return int(row[0]), int(row[1] or 0), utc_or_none(row[2])

    async def update(
        self,
        policy_id: PolicyId,
        *,
        name: str,
        service: str,
        body: Mapping[str, Any],
        tx: Transaction | None = None,
    ) -> PolicyRecord:
        """Replace a policy's body (and its name and service, which the body holds)."""
        values = {
            "name": name,
            "service": service,
            "body": dict(body),
            "updated_at": datetime.now(UTC),
        }
        t = tables.policies
        with unique_name("policy", name):
            async with self._db.write(tx) as w:
                result = await w.conn.execute(update(t).where(t.c.id == policy_id).values(values))
                if result.rowcount == 0:
                    raise PolicyNotFound(f"no policy with id {policy_id}")
                return await self.get(policy_id, tx=w)

    async def delete(self, policy_id: PolicyId, *, tx: Transaction | None = None) -> None:
        t = tables.policies
        async with self._db.write(tx) as w:
            result = await w.conn.execute(delete(t).where(t.c.id == policy_id))
            if result.rowcount == 0:
                raise PolicyNotFound(f"no policy with id {policy_id}")

    async def _one(self, where: Any, tx: Transaction | None = None) -> PolicyRecord | None:
        async with self._db.read(tx) as conn:
            row = (await conn.execute(select(tables.policies).where(where))).mappings().first()
        return None if row is None else _policy(row)


def _policy(row: RowMapping | Mapping[str, Any]) -> PolicyRecord:
    return PolicyRecord(
        id=PolicyId(row["id"]),
        name=row["name"],
        service=row["service"],
        body=dict(row["body"]),
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
    )
