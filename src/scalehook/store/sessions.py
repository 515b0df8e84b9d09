"""Web UI sessions in the ``sessions`` table: looked up by the hash of the cookie's id.

A repository of its own (the store is being split into one per table group): it is
given the store's read and write transactions and touches no other table.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import RowMapping, delete, insert, select, update

from scalehook.domain.sessions import UiSession
from scalehook.store import tables

Connect = Callable[[], AbstractAsyncContextManager[Any]]


class SessionRepository:
    def __init__(self, read: Connect, write: Connect) -> None:
        self._read = read
        self._write = write

    async def add(self, session: UiSession) -> None:
        """Keep a new session, and forget every session that has ended."""
        t = tables.sessions
        async with self._write() as conn:
            await conn.execute(delete(t).where(t.c.expires_at <= session.created_at))
            await conn.execute(
                insert(t).values(
                    id_hash=session.id_hash,
                    csrf=session.csrf,
                    created_at=session.created_at,
                    expires_at=session.expires_at,
                    admin=session.admin,
                )
            )

    async def get(self, id_hash: str) -> UiSession | None:
        t = tables.sessions
        async with self._read() as conn:
            row = (await conn.execute(select(t).where(t.c.id_hash == id_hash))).mappings().first()
        return None if row is None else _session(row)

    async def extend(self, id_hash: str, expires_at: datetime) -> None:
        t = tables.sessions
        async with self._write() as conn:
            await conn.execute(
                update(t).where(t.c.id_hash == id_hash).values(expires_at=expires_at)
            )

    async def delete(self, id_hash: str) -> None:
        t = tables.sessions
        async with self._write() as conn:
            await conn.execute(delete(t).where(t.c.id_hash == id_hash))


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _session(row: RowMapping) -> UiSession:
    return UiSession(
        id_hash=row["id_hash"],
        csrf=row["csrf"],
        created_at=_utc(row["created_at"]),
        expires_at=_utc(row["expires_at"]),
        admin=row["admin"],
    )
