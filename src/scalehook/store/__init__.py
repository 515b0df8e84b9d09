"""Receivers, executions, rollouts and settings, kept in SQL through SQLAlchemy 2.

SQLite is the default: WAL, one connection used on the event loop's own thread (a
statement costs less than a hop to a worker thread), writers queued in order. The
same queries run on PostgreSQL through the async engine, written once for both
(``LoopConnection`` is awaited like an ``AsyncConnection``). Migrations run at open,
so a new scalehook upgrades the file it finds.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Collection, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Connection,
    CursorResult,
    Engine,
    Executable,
    RowMapping,
    and_,
    create_engine,
    delete,
    event,
    func,
    insert,
    make_url,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from scalehook.domain.decisions import ACTING, Direction
from scalehook.domain.executions import Execution, ExecutionDraft, ExecutionId
from scalehook.domain.incidents import Incident, IncidentKey, IncidentMark
from scalehook.domain.receivers import Receiver, ReceiverId
from scalehook.domain.upgrades import RolloutRecord
from scalehook.errors import Conflict, NotFound, ReceiverNotFound
from scalehook.store import tables
from scalehook.store.sessions import SessionRepository

MIGRATIONS = Path(__file__).parent / "migrations"
_CACHED_RECEIVERS = 100_000

# Resolved incidents are forgotten after this long: Alertmanager stops re-sending a
# resolved alert once it has delivered it.
FORGET_RESOLVED = timedelta(days=7)


_INSERT_EXECUTION = insert(tables.executions)


class LoopConnection:
    """A SQLAlchemy connection used on the event loop's thread, awaited like an
    ``AsyncConnection`` so that the queries are written once for both."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def execute(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None
    ) -> CursorResult[Any]:
        return self._conn.execute(statement, parameters)


class Store:
    def __init__(self, url: str, *, on_loop: bool | None = None) -> None:
        """``on_loop``: run SQLite on the event loop's thread (the default for SQLite);
        False takes the async engine, as PostgreSQL does (with aiosqlite for SQLite)."""
        self.url = url
        self._engine: AsyncEngine | None = None
        self._sqlite = url.startswith("sqlite")
        self._on_loop = self._sqlite if on_loop is None else on_loop and self._sqlite
        self._local: Engine | None = None
        self._write_lock = asyncio.Lock()
        # Receivers by key hash, for the trigger's hot path. Only on the loop's thread:
        # one scalehook owns the file, every change goes through this object, and a read
        # never yields to the loop, so no change can commit while a read is under way.
        self._by_key: dict[str, Receiver] | None = {} if self._on_loop else None
        self.sessions = SessionRepository(self._read, self._write)

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError("the store is not open")
        return self._engine

    async def open(self) -> None:
        if self._sqlite:
            path = self.url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        if self._on_loop:
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
        if self._sqlite:
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
    async def _read(self) -> AsyncIterator[AsyncConnection | LoopConnection]:
        if self._local is not None:
            with self._local.connect() as conn:
                yield LoopConnection(conn)
        else:
            async with self.engine.connect() as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection | LoopConnection]:
        """A transaction that writes. On SQLite, writers queue here (in order), never
        in SQLite's busy handler."""
        if self._local is not None:
            async with self._write_lock:
                with self._local.begin() as conn:
                    yield LoopConnection(conn)
        elif self._sqlite:
            async with self._write_lock, self.engine.begin() as conn:
                yield conn
        else:
            async with self.engine.begin() as conn:
                yield conn

    # receivers -------------------------------------------------------------------

    async def add_receiver(
        self,
        *,
        name: str,
        driver: str,
        config: Mapping[str, Any],
        key_hash: str,
        enabled: bool,
        dry_run: bool = False,
        paused: bool = False,
    ) -> Receiver:
        now = datetime.now(UTC)
        values = {
            "name": name,
            "driver": driver,
            "config": dict(config),
            "key_hash": key_hash,
            "enabled": enabled,
            "dry_run": dry_run,
            "paused": paused,
            "created_at": now,
            "updated_at": now,
        }
        try:
            async with self._write() as conn:
                result = await conn.execute(insert(tables.receivers).values(values))
                new_id = _new_id(result.inserted_primary_key)
        except IntegrityError as exc:
            raise Conflict(f"a receiver named {name!r} exists already", field="name") from exc
        return await self.receiver(ReceiverId(new_id))

    async def receiver(self, receiver_id: ReceiverId) -> Receiver:
        async with self._read() as conn:
            row = (
                (
                    await conn.execute(
                        select(tables.receivers).where(tables.receivers.c.id == receiver_id)
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise ReceiverNotFound(f"no receiver with id {receiver_id}")
        return _receiver(row)

    async def receiver_by_name(self, name: str) -> Receiver:
        async with self._read() as conn:
            row = (
                (
                    await conn.execute(
                        select(tables.receivers).where(tables.receivers.c.name == name)
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise ReceiverNotFound(f"no receiver named {name!r}")
        return _receiver(row)

    async def receiver_by_key(self, key_hash: str) -> Receiver | None:
        """The receiver a trigger key belongs to; served from memory once seen."""
        cache = self._by_key
        if cache is not None and (known := cache.get(key_hash)) is not None:
            return known
        receiver = await self._read_receiver_by_key(key_hash)
        if receiver is not None and cache is not None:
            if len(cache) >= _CACHED_RECEIVERS:
                cache.clear()
            cache[key_hash] = receiver
        return receiver

    def _receivers_change(self) -> None:
        """Called once a change to receivers is committed (or failed)."""
        if self._by_key is not None:
            self._by_key.clear()

    async def _read_receiver_by_key(self, key_hash: str) -> Receiver | None:
        async with self._read() as conn:
            row = (
                (
                    await conn.execute(
                        select(tables.receivers).where(tables.receivers.c.key_hash == key_hash)
                    )
                )
                .mappings()
                .first()
            )
        return None if row is None else _receiver(row)

    async def receivers(self) -> list[Receiver]:
        async with self._read() as conn:
            rows = (
                await conn.execute(select(tables.receivers).order_by(tables.receivers.c.id))
            ).mappings()
            return [_receiver(row) for row in rows]

    async def update_receiver(self, receiver_id: ReceiverId, **values: Any) -> Receiver:
        values["updated_at"] = datetime.now(UTC)
        try:
            async with self._write() as conn:
                result = await conn.execute(
                    update(tables.receivers)
                    .where(tables.receivers.c.id == receiver_id)
                    .values(values)
                )
        except IntegrityError as exc:
            raise Conflict(
                f"a receiver named {values.get('name')!r} exists already", field="name"
            ) from exc
        finally:
            self._receivers_change()
        if result.rowcount == 0:
            raise ReceiverNotFound(f"no receiver with id {receiver_id}")
        return await self.receiver(receiver_id)

    async def delete_receiver(self, receiver_id: ReceiverId) -> None:
        try:
            async with self._write() as conn:
                result = await conn.execute(
                    delete(tables.receivers).where(tables.receivers.c.id == receiver_id)
                )
                await conn.execute(
                    delete(tables.alert_incidents).where(
                        tables.alert_incidents.c.receiver_id == receiver_id
                    )
                )
        finally:
            self._receivers_change()
        if result.rowcount == 0:
            raise ReceiverNotFound(f"no receiver with id {receiver_id}")

    # executions ------------------------------------------------------------------

    async def add_execution(
        self,
        draft: ExecutionDraft,
        *,
        marks: tuple[IncidentMark, ...] = (),
        dry_run: bool = False,
    ) -> Execution:
        """Record an execution and, in the same transaction, what it taught the
        receiver about alert incidents (``marks``): both are written, or neither."""
        async with self._write() as conn:
            new_id, values = await _insert_execution(conn, draft)
            if marks and draft.receiver_id is not None:
                await _write_marks(
                    conn, draft.receiver_id, dry_run, marks, new_id, draft.started_at
                )
        return Execution(id=ExecutionId(new_id), **values)

    async def last_actions(
        self, *, receiver_id: int, target: str, dry_run: bool = False
    ) -> dict[Direction, datetime | None]:
        """When this receiver last moved the target up, and down (from the audit trail)."""
        t = tables.executions
        results = ("dry_run",) if dry_run else tuple(ACTING)
        base = (t.c.receiver_id == receiver_id) & (t.c.target == target) & t.c.result.in_(results)
        async with self._read() as conn:
            up = (
                await conn.execute(
                    select(func.max(t.c.started_at)).where(base & (t.c.after > t.c.before))
                )
            ).scalar()
            down = (
                await conn.execute(
                    select(func.max(t.c.started_at)).where(base & (t.c.after < t.c.before))
                )
            ).scalar()
        return {"up": _utc_or_none(up), "down": _utc_or_none(down)}

    async def incidents(
        self, *, receiver_id: int, dry_run: bool, keys: Collection[IncidentKey]
    ) -> dict[IncidentKey, Incident]:
        """The remembered incidents among ``keys``, and every incident that shares a
        batch with one of them (to know whether the batch still has one firing)."""
        if not keys:
            return {}
        t = tables.alert_incidents
        mine = (t.c.receiver_id == receiver_id) & (t.c.dry_run == dry_run)
        wanted = {(fp, _utc(at)) for fp, at in keys}
        fingerprints = sorted({fp for fp, _ in wanted})
        found: dict[IncidentKey, Incident] = {}
        async with self._read() as conn:
            for chunk in _chunks(fingerprints, 500):
                rows = (
                    await conn.execute(select(t).where(mine & t.c.fingerprint.in_(chunk)))
                ).mappings()
                for row in rows:
                    incident = _incident(row)
                    if incident.key in wanted:
                        found[incident.key] = incident
            batches = sorted({i.batch for i in found.values() if i.batch is not None})
            for chunk in _chunks(batches, 500):
                rows = (await conn.execute(select(t).where(mine & t.c.batch.in_(chunk)))).mappings()
                for row in rows:
                    incident = _incident(row)
                    found.setdefault(incident.key, incident)
        return found

    async def execution(self, execution_id: int) -> Execution:
        async with self._read() as conn:
            row = (
                (
                    await conn.execute(
                        select(tables.executions).where(tables.executions.c.id == execution_id)
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"no execution with id {execution_id}")
        return _execution(row)

    async def update_execution(self, execution_id: int, **values: Any) -> None:
        """Change a running execution (its result, message, details, status)."""
        values["updated_at"] = datetime.now(UTC)
        async with self._write() as conn:
            await conn.execute(
                update(tables.executions)
                .where(tables.executions.c.id == execution_id)
                .values(values)
            )

    async def executions(
        self,
        *,
        receiver_id: int | None = None,
        receiver_name: str | None = None,
        targets: list[str] | None = None,
        limit: int = 50,
        before: int | None = None,
        after: int | None = None,
        result: str | None = None,
        status: str | None = None,
    ) -> list[Execution]:
        """Newest first; ``before``/``after`` page by id."""
        t = tables.executions
        query = select(t)
        if receiver_id is not None:
            query = query.where(t.c.receiver_id == receiver_id)
        if receiver_name is not None:
            query = query.where(t.c.receiver_name == receiver_name)
        if targets is not None:
            query = query.where(t.c.target.in_(targets))
        if before is not None:
            query = query.where(t.c.id < before)
        if after is not None:
            query = query.where(t.c.id > after)
        if result is not None:
            query = query.where(t.c.result == result)
        if status is not None:
            query = query.where(t.c.status == status)
        query = query.order_by(t.c.id.desc()).limit(limit)
        async with self._read() as conn:
            rows = (await conn.execute(query)).mappings()
            return [_execution(row) for row in rows]

    # rollouts --------------------------------------------------------------------

    async def start_rollout(
        self,
        draft: ExecutionDraft,
        *,
        target: str,
        image: str,
        previous: str | None,
        strategy: Mapping[str, Any],
    ) -> tuple[Execution, int]:
        """Record a running execution and its rollout in one transaction."""
        now = datetime.now(UTC)
        async with self._write() as conn:
            execution_id, values = await _insert_execution(conn, draft)
            result = await conn.execute(
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
            rollout_id = _new_id(result.inserted_primary_key)
        return Execution(id=ExecutionId(execution_id), **values), rollout_id

    async def set_rollout_phase(self, rollout_id: int, phase: str) -> None:
        async with self._write() as conn:
            await conn.execute(
                update(tables.rollouts)
                .where(tables.rollouts.c.id == rollout_id)
                .values(phase=phase, updated_at=datetime.now(UTC))
            )

    async def unfinished_rollouts(self) -> list[RolloutRecord]:
        """Rollouts that were running when scalehook last stopped, oldest first."""
        t = tables.rollouts
        async with self._read() as conn:
            rows = (
                await conn.execute(select(t).where(t.c.phase != "done").order_by(t.c.id))
            ).mappings()
            return [
                RolloutRecord(
                    id=row["id"],
                    execution_id=row["execution_id"],
                    target=row["target"],
                    image=row["image"],
                    previous=row["previous"],
                    strategy=dict(row["strategy"]),
                    phase=row["phase"],
                )
                for row in rows
            ]

    # settings --------------------------------------------------------------------

    async def setting(self, key: str) -> str | None:
        async with self._read() as conn:
            row = (
                await conn.execute(
                    select(tables.settings.c.value).where(tables.settings.c.key == key)
                )
            ).first()
        return None if row is None else str(row[0])

    async def set_setting(self, key: str, value: str) -> None:
        async with self._write() as conn:
            result = await conn.execute(
                update(tables.settings).where(tables.settings.c.key == key).values(value=value)
            )
            if result.rowcount == 0:
                await conn.execute(insert(tables.settings).values(key=key, value=value))


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


def _new_id(key: Any) -> int:
    if not key or key[0] is None:
        raise RuntimeError("the database did not return the new row's id")
    return int(key[0])


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


def _chunks(values: list[Any], size: int) -> list[list[Any]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


async def _insert_execution(
    conn: AsyncConnection | LoopConnection, draft: ExecutionDraft
) -> tuple[int, dict[str, Any]]:
    """Insert an execution; its id and the values written.

    A shallow copy (``asdict`` deep-copies details) and one prepared statement with
    parameters: building a statement from values costs more than SQLite's insert."""
    values = {f.name: getattr(draft, f.name) for f in dataclasses.fields(draft)}
    result = await conn.execute(_INSERT_EXECUTION, values)
    return _new_id(result.inserted_primary_key), values


async def _write_marks(
    conn: AsyncConnection | LoopConnection,
    receiver_id: int,
    dry_run: bool,
    marks: tuple[IncidentMark, ...],
    execution_id: int,
    now: datetime,
) -> None:
    """Apply marks as ``incidents.remember`` does in memory, and forget old resolves."""
    t = tables.alert_incidents
    mine = (t.c.receiver_id == receiver_id) & (t.c.dry_run == dry_run)
    for mark in marks:
        where = and_(
            mine, t.c.fingerprint == mark.fingerprint, t.c.starts_at == _utc(mark.starts_at)
        )
        if mark.fired:
            await conn.execute(delete(t).where(where))
            await conn.execute(
                insert(t).values(
                    receiver_id=receiver_id,
                    dry_run=dry_run,
                    fingerprint=mark.fingerprint,
                    starts_at=_utc(mark.starts_at),
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


def _incident(row: RowMapping) -> Incident:
    return Incident(
        fingerprint=row["fingerprint"],
        starts_at=_utc(row["starts_at"]),
        batch=row["batch"],
        owes=bool(row["owes"]),
        resolved=row["resolved_at"] is not None,
    )


def _receiver(row: RowMapping) -> Receiver:
    return Receiver(
        id=ReceiverId(row["id"]),
        name=row["name"],
        driver=row["driver"],
        config=dict(row["config"]),
        enabled=bool(row["enabled"]),
        created_at=_utc(row["created_at"]),
        updated_at=_utc(row["updated_at"]),
        dry_run=bool(row["dry_run"]),
        paused=bool(row["paused"]),
    )


def _execution(row: RowMapping) -> Execution:
    return Execution(
        id=ExecutionId(row["id"]),
        started_at=_utc(row["started_at"]),
        receiver_id=row["receiver_id"],
        receiver_name=row["receiver_name"],
        driver=row["driver"],
        target=row["target"],
        caller=row["caller"],
        result=row["result"],
        before=row["before"],
        after=row["after"],
        message=row["message"],
        duration_ms=row["duration_ms"],
        details=dict(row["details"] or {}),
        status=row["status"],
        updated_at=None if row["updated_at"] is None else _utc(row["updated_at"]),
    )
