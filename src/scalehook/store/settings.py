"""Small named values scalehook keeps for itself (the admin token's hash)."""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from scalehook.store import tables
from scalehook.store.database import Database, Transaction


class SettingRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, key: str) -> str | None:
        t = tables.settings
        async with self._db.read() as conn:
            row = (await conn.execute(select(t.c.value).where(t.c.key == key))).first()
        return None if row is None else str(row[0])

    async def set(self, key: str, value: str, *, tx: Transaction | None = None) -> None:
        t = tables.settings
        async with self._db.write(tx) as w:
            result = await w.conn.execute(update(t).where(t.c.key == key).values(value=value))
            if result.rowcount == 0:
                await w.conn.execute(insert(t).values(key=key, value=value))

    async def set_default(self, key: str, value: str) -> str:
        """Keep ``value`` unless ``key`` has one already; the value kept. Of several
        instances starting at once on an empty database, one writes and the others
        read what it wrote."""
        current = await self.get(key)
        if current is not None:
            return current
        t = tables.settings
        try:
            async with self._db.write() as w:
                await w.conn.execute(insert(t).values(key=key, value=value))
        except IntegrityError:
            pass  # another instance wrote it first
        kept = await self.get(key)
        if kept is None:  # pragma: no cover - a row just written or read cannot vanish
            raise RuntimeError(f"the setting {key!r} was not kept")
        return kept
