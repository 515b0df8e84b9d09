"""Receivers, policies, executions, alert memory, rollouts, revisions, settings,
sessions, health checks, notifications and their outbox, kept in SQL through SQLAlchemy 2.

``Store`` opens the database (``database.py``: SQLite on the loop's thread, or the
async engine for PostgreSQL) and holds one repository per table group. A new group is
one module here and one attribute on ``Store``. Writes that must land together share a
transaction: ``async with store.transaction() as tx:`` and ``tx=tx`` to each write.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from scalehook.store.database import Database, Transaction
from scalehook.store.executions import ExecutionRepository
from scalehook.store.healthchecks import HealthCheckRepository
from scalehook.store.incidents import IncidentRepository
from scalehook.store.notifications import NotificationRepository
from scalehook.store.outbox import OutboxRepository
from scalehook.store.policies import PolicyRepository
from scalehook.store.receivers import ReceiverRepository
from scalehook.store.revisions import RevisionRepository
from scalehook.store.rollouts import RolloutRepository
from scalehook.store.sessions import SessionRepository
from scalehook.store.settings import SettingRepository

__all__ = ["Store", "Transaction"]


class Store:
    def __init__(self, url: str, *, on_loop: bool | None = None) -> None:
        """``on_loop``: run SQLite on the event loop's thread (the default for SQLite);
        False takes the async engine, as PostgreSQL does (with aiosqlite for SQLite)."""
        self.db = Database(url, on_loop=on_loop)
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

    async def open(self) -> None:
        """Connect and run the migrations."""
        await self.db.open()

    async def close(self) -> None:
        await self.db.close()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One write transaction for several repositories: pass it as ``tx=``; every
        write commits when the block ends, or none does."""
        async with self.db.write() as tx:
            yield tx
