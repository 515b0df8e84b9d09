"""The connection layer every repository shares: open, migrate, read, write.

SQLite is the default: WAL, one connection used on the event loop's own thread (a
statement costs less than a hop to a worker thread), writers queued in order. The
same queries run on PostgreSQL through the async engine, written once for both
(``LoopConnection`` is awaited like an ``AsyncConnection``). Migrations run at open,
so a new scalehook upgrades the file it finds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Connection,
    CursorResult,
    Engine,
    Executable,
    create_engine,
    event,
    make_url,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

MIGRATIONS = Path(__file__).parent / "migrations"


class LoopConnection:
    """A SQLAlchemy connection used on the event loop's thread, awaited like an
    ``AsyncConnection`` so that the queries are written once for both."""

    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def execute(
        self,
        statement: Executable,
        parameters: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    ) -> CursorResult[Any]:
        return self._conn.execute(statement, parameters)


Conn = AsyncConnection | LoopConnection


class Transaction:
    """A write transaction under way. Pass it as ``tx=`` to a repository's write
    methods to make their writes part of it: all of them commit, or none.

    Await nothing but store writes inside one: on SQLite it holds the write queue.
    """

    __slots__ = ("_after", "conn")

    def __init__(self, conn: Conn, after: list[Callable[[], None]]) -> None:
        self.conn = conn
        self._after = after

    def after(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the transaction has ended (committed or not): a
        repository's cache forgets what the transaction may have changed."""
        if callback not in self._after:
            self._after.append(callback)


class Database:
    """One database: SQLite on the loop's thread, or an async engine (PostgreSQL, and
    SQLite through aiosqlite with ``on_loop=False``)."""

    def __init__(self, url: str, *, on_loop: bool | None = None) -> None:
        """``on_loop``: run SQLite on the event loop's thread (the default for SQLite);
        False takes the async engine, as PostgreSQL does (with aiosqlite for SQLite)."""
        self.url = url
        self.sqlite = url.startswith("sqlite")
        self.on_loop = self.sqlite if on_loop is None else on_loop and self.sqlite
        self._engine: AsyncEngine | None = None
        self._local: Engine | None = None
        self._write_lock = asyncio.Lock()

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError("the store is not open")
        return self._engine

    async def open(self) -> None:
        if self.sqlite:
            path = self.url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        if self.on_loop:
            # SQLite on the event loop's own thread: a statement on a local file in WAL
            # mode takes tens of microseconds, less than one hop to a worker thread
            # (aiosqlite makes five per insert). One connection, reused: every use is
            # on this thread and none overlaps another.
            url = make_url(self.url).set(drivername="sqlite")
            local = create_engine(url, poolclass=StaticPool)
            event.listen(local, "connect", _sqlite_pragmas)
            self._local = local
            with local.begin() as conn:
                _migrate(conn)
            return
        engine = create_async_engine(self.url)
        if self.sqlite:
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        self._engine = engine
        async with engine.begin() as conn:
            await conn.run_sync(_migrate)

    async def close(self) -> None:
        if self._local is not None:
            self._local.dispose()
            self._local = None
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    @contextlib.asynccontextmanager
    async def read(self, tx: Transaction | None = None) -> AsyncIterator[Conn]:
        """A connection to read on: ``tx``'s if one is under way (to see its writes)."""
        if tx is not None:
            yield tx.conn
        elif self._local is not None:
            with self._local.connect() as conn:
                yield LoopConnection(conn)
        else:
            async with self.engine.connect() as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def write(self, tx: Transaction | None = None) -> AsyncIterator[Transaction]:
        """A transaction that writes: ``tx`` if one is under way (joined, its owner
        commits), else a new one. On SQLite, writers queue here (in order), never in
        SQLite's busy handler."""
        if tx is not None:
            yield tx
            return
        after: list[Callable[[], None]] = []
        try:
            if self._local is not None:
                async with self._write_lock:
                    with self._local.begin() as conn:
                        yield Transaction(LoopConnection(conn), after)
            elif self.sqlite:
                async with self._write_lock, self.engine.begin() as conn:
                    yield Transaction(conn, after)
            else:
                async with self.engine.begin() as conn:
                    yield Transaction(conn, after)
        finally:
            for callback in after:
                callback()


def _migrate(connection: Connection) -> None:
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def new_id(key: Any) -> int:
    if not key or key[0] is None:
        raise RuntimeError("the database did not return the new row's id")
    return int(key[0])


def utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def chunks(values: list[Any], size: int) -> list[list[Any]]:
    return [values[i : i + size] for i in range(0, len(values), size)]
