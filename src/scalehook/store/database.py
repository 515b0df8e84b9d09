"""The connection layer every repository shares: open, migrate, read, write, lock.

SQLite is the default: WAL, one connection used on the event loop's own thread (a
statement costs less than a hop to a worker thread), writers queued in order. The
same queries run on PostgreSQL through the async engine (asyncpg), written once for
both (``LoopConnection`` is awaited like an ``AsyncConnection``). Migrations run at
open, so a new scalehook upgrades the database it finds; on PostgreSQL under an
advisory lock, so that of several instances starting at once one migrates and the
others wait.

On PostgreSQL, a database that cannot be reached (down, restarting, the connection
cut, no connection free in time) is ``StoreUnavailable`` (503) at this boundary, the
driver's error chained; the pool then drops its dead connections, so the instances
pick the database up again by themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.util
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    URL,
    Connection,
    CursorResult,
    Engine,
    Executable,
    create_engine,
    event,
    func,
    make_url,
    select,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from scalehook.errors import Conflict, ScalehookError, StoreUnavailable

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
LOG_EVERY = 5.0  # seconds between two log lines about an unreachable database

# The PostgreSQL drivers that SQLAlchemy's async engine can use, and the package each is.
ASYNC_DRIVERS = {"asyncpg": "asyncpg", "psycopg": "psycopg"}
DEFAULT_POOL = 20
CONNECT_TIMEOUT = 5.0  # seconds to open a connection before the store counts as unavailable
POOL_TIMEOUT = 10.0  # seconds to wait for a free connection of the pool

Synchronous = Literal["full", "normal"]


class DatabaseUrlError(ValueError):
    """``database`` names a database scalehook cannot use (``config.py`` turns it into
    a ``ConfigError`` naming the field)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def normalise_url(url: str) -> str:
    """The URL as the store opens it: ``postgresql://`` and ``postgres://`` mean asyncpg;
    a synchronous driver, an unknown database or a driver not installed is refused,
    naming what to do (never showing the password)."""
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError as exc:
        raise DatabaseUrlError(f"not a database URL: {exc}") from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite":
        if driver not in ("", "aiosqlite", "pysqlite"):
            raise DatabaseUrlError(
                f"SQLite through {driver!r}: use sqlite:/// or sqlite+aiosqlite:///"
            )
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend not in ("postgresql", "postgres"):
        raise DatabaseUrlError(
            f"{backend!r} databases are not supported: use SQLite (the default) or PostgreSQL"
        )
    driver = driver or "asyncpg"
    if driver not in ASYNC_DRIVERS:
        raise DatabaseUrlError(
            f"PostgreSQL through {driver!r}: scalehook needs an asyncio driver, "
            "postgresql+asyncpg:// (or postgresql+psycopg://)"
        )
    if importlib.util.find_spec(ASYNC_DRIVERS[driver]) is None:
        raise DatabaseUrlError(
            f"PostgreSQL needs its driver {ASYNC_DRIVERS[driver]!r}: "
            "pip install 'scalehook[postgres]'"
        )
    return parsed.set(drivername=f"postgresql+{driver}").render_as_string(hide_password=False)


def shown(url: str | URL) -> str:
    """A database URL fit for a log or a message: the password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return "(not a URL)"


def lock_key(name: str) -> int:
    """A PostgreSQL advisory lock key (signed 64 bits) for a name: its SHA-256, cut."""
    digest = hashlib.sha256(f"scalehook:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


MIGRATION_LOCK = lock_key("migrations")


# PostgreSQL's SQLSTATEs that say the server cannot serve now: class 08 (connection
# exceptions), 57P01-57P05 (shut down by an administrator or a crash, "cannot connect
# now" while starting or stopping, idle session timeout), 53300 (too many connections).
_UNAVAILABLE_STATES = ("08", "57P", "53300")
# What asyncpg raises before SQLAlchemy has a connection to wrap it in.
_ASYNCPG_UNAVAILABLE = {
    "PostgresConnectionError",
    "InterfaceError",
    "OperatorInterventionError",
    "CannotConnectNowError",
    "ConnectionDoesNotExistError",
    "InternalClientError",
    "TooManyConnectionsError",
}


def unavailable(exc: BaseException) -> bool:
    """Does ``exc`` say the database cannot be reached (rather than that a statement is
    wrong, or a constraint refused it)?"""
    if isinstance(exc, sa_exc.DBAPIError) and (
        exc.connection_invalidated
        or isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError)
    ):
        return True
    if isinstance(exc, sa_exc.TimeoutError):
        return True  # no connection of the pool came free in time
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError | TimeoutError):
            return True  # refused, reset, unreachable, connecting for too long
        state = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(state, str) and state.startswith(_UNAVAILABLE_STATES):
            return True
        if type(current).__module__.startswith("asyncpg") and _ASYNCPG_UNAVAILABLE & {
            cls.__name__ for cls in type(current).__mro__
        }:
            return True
        following = getattr(current, "orig", None)
        current = following if isinstance(following, BaseException) else current.__cause__
    return False


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

    __slots__ = ("_after", "_committed", "conn")

    def __init__(
        self,
        conn: Conn,
        after: list[Callable[[], None]],
        committed: list[Callable[[], None]] | None = None,
    ) -> None:
        self.conn = conn
        self._after = after
        self._committed = committed if committed is not None else []

    def after(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the transaction has ended (committed or not): a
        repository's cache forgets what the transaction may have changed."""
        if callback not in self._after:
            self._after.append(callback)

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the transaction has committed (never if it fails): a
        metric counts only what the store holds."""
        self._committed.append(callback)


class Database:
    """One database: SQLite on the loop's thread, or an async engine (PostgreSQL, and
    SQLite through aiosqlite with ``on_loop=False``)."""

    def __init__(
        self,
        url: str,
        *,
        on_loop: bool | None = None,
        pool: int = DEFAULT_POOL,
        synchronous: Synchronous = "full",
    ) -> None:
        """``on_loop``: run SQLite on the event loop's thread (the default for SQLite);
        False takes the async engine, as PostgreSQL does (with aiosqlite for SQLite).
        ``pool``: most connections to PostgreSQL at once (each target acted on holds
        one for its action). ``synchronous``: SQLite's ``PRAGMA synchronous``: ``full``
        syncs every commit to disk, so an answered trigger survives a power cut;
        ``normal`` may lose the last commits then (never on a crash of scalehook)."""
        self.url = normalise_url(url)
        self.sqlite = self.url.startswith("sqlite")
        self.shared = not self.sqlite  # several instances may use it (PostgreSQL)
        self.on_loop = self.sqlite if on_loop is None else on_loop and self.sqlite
        self.pool = max(2, pool)
        self.synchronous: Synchronous = synchronous
        self._engine: AsyncEngine | None = None
        self._leases: AsyncEngine | None = None
        self._leases_spoilt = False
        self._local: Engine | None = None
        self._write_lock = asyncio.Lock()
        self._logged = -LOG_EVERY

    @property
    def shown_url(self) -> str:
        return shown(self.url)

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError("the store is not open")
        return self._engine

    def _pragmas(self, dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    def _postgres_engine(self, pool: int) -> AsyncEngine:
        driver = make_url(self.url).drivername.partition("+")[2]
        timeout = {"asyncpg": "timeout", "psycopg": "connect_timeout"}[driver]
        return create_async_engine(
            self.url,
            pool_size=min(5, pool),
            max_overflow=max(0, pool - 5),
            pool_timeout=POOL_TIMEOUT,
            # No ping before each use (a round trip on every statement's way): after the
            # server restarted, the first use of a dead connection fails (503) and the
            # pool then drops every connection older than it.
            pool_pre_ping=False,
            connect_args={timeout: CONNECT_TIMEOUT},
        )

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
            event.listen(local, "connect", self._pragmas)
            self._local = local
            with local.begin() as conn:
                _migrate(conn)
            return
        if self.sqlite:
            engine = create_async_engine(self.url)
            event.listen(engine.sync_engine, "connect", self._pragmas)
            self._engine = engine
            async with engine.begin() as conn:
                await conn.run_sync(_migrate)
            return
        self._engine = self._postgres_engine(self.pool)
        # The lease (leadership) has a connection of its own: actions holding every
        # connection of the pool never delay a renewal.
        self._leases = self._postgres_engine(2)
        try:
            async with self._unavailable("migrate"), self.engine.begin() as conn:
                # One instance migrates; the others wait here, then find nothing to do.
                # The lock is the transaction's: released by the commit of the migrations.
                await conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK)))
                await conn.run_sync(_migrate)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._local is not None:
            self._local.dispose()
            self._local = None
        for engine in (self._engine, self._leases):
            if engine is not None:
                await engine.dispose()
        self._engine = self._leases = None

    @contextlib.asynccontextmanager
    async def _unavailable(self, doing: str) -> AsyncIterator[None]:
        """Turn the driver's "cannot reach the database" into ``StoreUnavailable``."""
        try:
            yield
        except ScalehookError:
            raise
        except Exception as exc:
            if self.sqlite or not unavailable(exc):
                raise
            # The answer says only that (a trigger's caller is anyone holding a URL);
            # the log says where and why, once per LOG_EVERY seconds at most.
            now = time.monotonic()
            if now - self._logged >= LOG_EVERY:
                self._logged = now
                reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
                log.warning(
                    "the database %s cannot be reached (to %s): %s",
                    self.shown_url,
                    doing,
                    reason[0] if reason else type(exc).__name__,
                )
            raise StoreUnavailable(
                f"the database cannot be reached now (to {doing}); retry later"
            ) from exc

    @contextlib.asynccontextmanager
    async def read(self, tx: Transaction | None = None) -> AsyncIterator[Conn]:
        """A connection to read on: ``tx``'s if one is under way (to see its writes)."""
        if tx is not None:
            yield tx.conn
        elif self._local is not None:
            with self._local.connect() as conn:
                yield LoopConnection(conn)
        else:
            async with self._unavailable("read"), self.engine.connect() as conn:
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
        committed: list[Callable[[], None]] = []
        try:
            if self._local is not None:
                async with self._write_lock:
                    with self._local.begin() as conn:
                        yield Transaction(LoopConnection(conn), after, committed)
            elif self.sqlite:
                async with self._write_lock, self.engine.begin() as conn:
                    yield Transaction(conn, after, committed)
            else:
                async with self._unavailable("write"), self.engine.begin() as conn:
                    yield Transaction(conn, after, committed)
        finally:
            for callback in after:
                callback()
        for callback in committed:
            callback()

    @contextlib.asynccontextmanager
    async def locked(self, name: str) -> AsyncIterator[Transaction]:
        """PostgreSQL: a transaction holding the advisory lock of ``name`` (waiting for
        it, whichever instance holds it). Write in it what must be seen by the next
        holder: the commit that makes it visible is what lets the lock go."""
        if self.sqlite:
            raise RuntimeError("advisory locks are PostgreSQL's")
        after: list[Callable[[], None]] = []
        committed: list[Callable[[], None]] = []
        try:
            async with self._unavailable("lock a target"), self.engine.begin() as conn:
                await conn.execute(select(func.pg_advisory_xact_lock(lock_key(name))))
                yield Transaction(conn, after, committed)
        finally:
            for callback in after:
                callback()
        for callback in committed:
            callback()

    @contextlib.asynccontextmanager
    async def lease_transaction(self) -> AsyncIterator[Transaction]:
        """PostgreSQL: a transaction on the leases' own connection."""
        if self._leases is None:
            raise RuntimeError("leases are kept on PostgreSQL only")
        if self._leases_spoilt:
            # A renewal cut short (timed out, cancelled) can leave its connection in the
            # middle of an operation: start again from new connections.
            self._leases_spoilt = False
            await self._leases.dispose()
        try:
            async with self._unavailable("renew a lease"), self._leases.begin() as conn:
                yield Transaction(conn, [])
        except BaseException:
            self._leases_spoilt = True
            raise


def _migrate(connection: Connection) -> None:
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


@contextlib.contextmanager
def unique_name(noun: str, name: object) -> Iterator[None]:
    """A write that breaks a table's unique ``name``: the 409 that says which is taken."""
    try:
        yield
    except sa_exc.IntegrityError as exc:
        raise Conflict(f"a {noun} named {name!r} exists already", field="name") from exc


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
