"""The health loop: one watch per checked service, kept in step with the checks.

Leader-only. It reads the checks (the store's over the file's) when it starts, when
one is set or deleted here, and every ``REFRESH`` seconds (another instance on the
same PostgreSQL may have changed one), and starts, updates or stops the watches to
match. A watch whose check changes keeps its replicas' states and its recreation
history; one that starts reads that history from the audit trail, so a restarted
scalehook keeps to the storm limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

from scalehook.domain.healthchecks import HealthCheckSpec
from scalehook.health.watch import Deps, ServiceWatch
from scalehook.store import Store

log = logging.getLogger(__name__)

REFRESH = 5.0
"""Seconds between two readings of the checks from the store."""


class HealthLoop:
    name = "health"
    leader_only = True

    def __init__(
        self,
        deps: Deps,
        store: Store,
        checks: Callable[[], Awaitable[Mapping[str, HealthCheckSpec]]],
    ) -> None:
        self.deps = deps
        self.store = store
        self._checks = checks
        self.watches: dict[str, ServiceWatch] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._changed = asyncio.Event()

    def changed(self) -> None:
        """A check was set or deleted: read them again now."""
        self._changed.set()

    async def run(self) -> None:
        try:
            while True:
                self._changed.clear()
                await self._follow(await self._checks())
                await self._wait(REFRESH)
        finally:
            for ref in list(self._tasks):
                await self._stop(ref)

    async def _wait(self, seconds: float) -> None:
        """Until a check changes or ``seconds`` pass on the clock."""
        changed = asyncio.ensure_future(self._changed.wait())
        timer = asyncio.ensure_future(self.deps.clock.sleep(seconds))
        try:
            await asyncio.wait({changed, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (changed, timer):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _follow(self, checks: Mapping[str, HealthCheckSpec]) -> None:
        for ref in set(self._tasks) - set(checks):
            await self._stop(ref)
        for ref, spec in checks.items():
            watch = self.watches.get(ref)
            if watch is not None and ref in self._tasks and not self._tasks[ref].done():
                if watch.spec != spec:
                    log.info("health check of %s changed", ref)
                    watch.spec = spec
                continue
            if watch is None:
                watch = ServiceWatch(ref, spec, self.deps, recreations=await self._history(ref))
                self.watches[ref] = watch
            watch.spec = spec
            self._tasks[ref] = asyncio.create_task(watch.run(), name=f"health {ref}")
            self._tasks[ref].add_done_callback(_log_end)

    async def _stop(self, ref: str) -> None:
        task = self._tasks.pop(ref, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.watches.pop(ref, None)
        self.deps.metrics.forget_health(ref)

    async def _history(self, ref: str) -> list[float]:
        """When recent recreations of ``ref`` began, on this clock's monotonic scale
        (from the audit trail: a restart keeps the storm limits)."""
        try:
            found = await self.store.executions.page(targets=[ref], result="recreated", limit=100)
        except Exception:
            log.exception("cannot read the recreations of %s", ref)
            return []
        now, mono = self.deps.clock.now(), self.deps.clock.monotonic()
        return sorted(
            mono - (now - e.started_at).total_seconds() for e in found if e.driver == "health"
        )


def _log_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("a health watch ended", exc_info=task.exception())
