"""The executor's target locks: work on one target (a service, a host group) runs one
at a time, and the next holder sees what the last one recorded.

- ``ProcessLocks`` (SQLite: one instance): ``KeyedLocks`` in this process's memory; the
  execution is recorded in a transaction of its own before the lock is let go.
- ``AdvisoryLocks`` (PostgreSQL: several instances): a transaction-level advisory lock
  (``pg_advisory_xact_lock``) in a transaction that is handed to the holder, who writes
  the execution in it. The commit that makes the execution visible is the one that
  releases the lock, so the next holder, on whichever instance, reads it; a holder that
  dies (``kill -9``, its connection cut) lets go with its transaction, recording nothing.
  Waiters of one instance queue in memory first, so an instance holds one connection
  per target at most; at most half the pool is held by locks at once, so the reads an
  action makes under its lock always find a connection. A lock taken while holding
  another (``inner``: the executor's capacity lock per backend, under a target's) draws
  on a quarter of the pool of its own, so holders of outer locks never wait on each
  other for a connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from scalehook.locks import KeyedLocks
from scalehook.store.database import Database, Transaction


class TargetLocks(Protocol):
    def hold(
        self, target: str, *, inner: bool = False
    ) -> AbstractAsyncContextManager[Transaction | None]:
        """Hold ``target``'s lock. The value is the transaction to record the action's
        execution in (``tx=``), if the lock lives in the database, else ``None``.
        ``inner``: taken while holding another lock (never the other way round)."""
        ...


class ProcessLocks:
    """One instance: locks in memory."""

    def __init__(self) -> None:
        self._locks = KeyedLocks()

    @contextlib.asynccontextmanager
    async def hold(self, target: str, *, inner: bool = False) -> AsyncIterator[Transaction | None]:
        async with self._locks.hold(target):
            yield None


class AdvisoryLocks:
    """Several instances on one PostgreSQL: the database's advisory locks."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._local = KeyedLocks()
        self._connections = asyncio.Semaphore(max(1, db.pool // 2))
        self._inner = asyncio.Semaphore(max(1, db.pool // 4))

    @contextlib.asynccontextmanager
    async def hold(self, target: str, *, inner: bool = False) -> AsyncIterator[Transaction | None]:
        async with (
            self._local.hold(target),
            self._inner if inner else self._connections,
            self._db.locked(f"target:{target}") as tx,
        ):
            yield tx
