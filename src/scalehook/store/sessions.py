"""Web UI sessions in the ``sessions`` table: looked up by the hash of the cookie's id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import RowMapping, delete, insert, select, update

from scalehook.domain.sessions import UiSession
from scalehook.store import tables
from scalehook.store.database import Database, utc


class SessionRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, session: UiSession) -> None:
        """Keep a new session, and forget every session that has ended."""
        t = tables.sessions
        async with self._db.write() as w:
            await w.conn.execute(delete(t).where(t.c.expires_at <= session.created_at))
            await w.conn.execute(
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
        async with self._db.read() as conn:
            row = (await conn.execute(select(t).where(t.c.id_hash == id_hash))).mappings().first()
        return None if row is None else _session(row)

    async def extend(self, id_hash: str, expires_at: datetime) -> None:
        t = tables.sessions
        async with self._db.write() as w:
            await w.conn.execute(
                update(t).where(t.c.id_hash == id_hash).values(expires_at=expires_at)
            )

    async def delete(self, id_hash: str) -> None:
        t = tables.sessions
        async with self._db.write() as w:
            await w.conn.execute(delete(t).where(t.c.id_hash == id_hash))


def _session(row: RowMapping) -> UiSession:
    return UiSession(
        id_hash=row["id_hash"],
        csrf=row["csrf"],
        created_at=utc(row["created_at"]),
        expires_at=utc(row["expires_at"]),
        admin=row["admin"],
    )
