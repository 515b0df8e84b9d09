"""Receivers, policies, executions, alert memory, rollouts, revisions, settings,
sessions, health checks, notifications and their outbox, and leases, kept in SQL
through SQLAlchemy 2.

``Store`` opens the database (``database.py``: SQLite on the loop's thread, or the
async engine for PostgreSQL) and holds one repository per table group. A new group is
one module here and one attribute on ``Store``. Writes that must land together share a
transaction: ``async with store.transaction() as tx:`` and ``tx=tx`` to each write.
``store.locks`` are the executor's target locks (``locks.py``): in memory on SQLite,
the database's advisory locks on PostgreSQL, where several instances share the store.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from scalehook.store.database import DEFAULT_POOL, Database, Synchronous, Transaction
from scalehook.store.executions import ExecutionRepository
from scalehook.store.healthchecks import HealthCheckRepository
from scalehook.store.incidents import IncidentRepository
from scalehook.store.leases import LeaseRepository
from scalehook.store.locks import AdvisoryLocks, ProcessLocks, TargetLocks
from scalehook.store.notifications import NotificationRepository
from scalehook.store.outbox import OutboxRepository
from scalehook.store.policies import PolicyRepository
from scalehook.store.receivers import ReceiverRepository
from scalehook.store.revisions import RevisionRepository
from scalehook.store.rollouts import RolloutRepository
from scalehook.store.sessions import SessionRepository
from scalehook.store.settings import SettingRepository

__all__ = ["Store", "TargetLocks", "Transaction"]


class Store:
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
        ``pool`` and ``synchronous``: see ``Database``."""
        self.db = Database(url, on_loop=on_loop, pool=pool, synchronous=synchronous)
        self.incidents = IncidentRepository(self.db)
        self.receivers = ReceiverRepository(self.db, self.incidents)
        self.policies = PolicyRepository(self.db)
        self.executions = ExecutionRepository(self.db, self.incidents)
        self.rollouts = RolloutRepository(self.db)
        self.revisions = RevisionRepository(self.db)
        self.settings = SettingRepository(self.db)
        self.sessions = SessionRepository(self.db)
        self.notifications = NotificationRepository(self.db)
        self.outbox = OutboxRepository(self.db)
        self.healthchecks = HealthCheckRepository(self.db)
        self.leases = LeaseRepository(self.db)
        self.locks: TargetLocks = AdvisoryLocks(self.db) if self.db.shared else ProcessLocks()

    @property
    def shared(self) -> bool:
        """Several instances may share this store (PostgreSQL)."""
        return self.db.shared

    async def open(self) -> None:
        """Connect and run the migrations."""
        await self.db.open()

    async def close(self) -> None:
        await self.db.close()

    @contextlib.asynccontextmanager
    async def transaction(self, tx: Transaction | None = None) -> AsyncIterator[Transaction]:
        """One write transaction for several repositories: pass it as ``tx=``; every
        write commits when the block ends, or none does. Given ``tx``, joins it."""
        async with self.db.write(tx) as w:
            yield w

    @contextlib.asynccontextmanager
    async def locked(self, name: str) -> AsyncIterator[Transaction | None]:
        """Across instances, one holder of ``name`` at a time: on PostgreSQL, a
        transaction holding its advisory lock (write in it; the commit lets go); on
        SQLite, where one instance owns the file, ``None`` (the caller's own lock in
        memory is enough)."""
        if not self.db.shared:
            yield None
            return
        async with self.db.locked(name) as tx:
            yield tx
