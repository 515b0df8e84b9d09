"""Runs the loops: each as a task, only while this instance leads (for those that need
it), restarted with backoff when it raises, never silently dead.

A crash is logged with its traceback, counted (``scalehook_loop_restarts_total``) and
shown in ``status()``; the loop starts again after a backoff that doubles from
``backoff`` up to ``max_backoff`` and resets once a run has lasted ``max_backoff``.
When leadership is lost, every leader-only loop is cancelled before ``lost()`` is
acted on further; it starts again when leadership comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, replace
from datetime import datetime

from scalehook.loops.base import Loop
from scalehook.loops.clock import Clock
from scalehook.loops.leadership import Leadership
from scalehook.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LoopStatus:
    name: str
    leader_only: bool
    running: bool = False
    restarts: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None


class Supervisor:
    def __init__(
        self,
        leadership: Leadership,
        clock: Clock,
        metrics: Metrics,
        *,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
    ) -> None:
        self.leadership = leadership
        self.clock = clock
        self.metrics = metrics
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._loops: list[Loop] = []
        self._status: dict[str, LoopStatus] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def add(self, loop: Loop) -> None:
        """Register a loop; it starts with the others (or at once, if they have)."""
        if loop.name in self._status:
            raise ValueError(f"two loops are named {loop.name!r}")
        self._loops.append(loop)
        self._status[loop.name] = LoopStatus(loop.name, loop.leader_only)
        self.metrics.loop_running.labels(loop.name).set(0)
        if self._tasks:
            self._tasks.append(asyncio.create_task(self._keep(loop), name=f"loop {loop.name}"))

    def status(self) -> list[LoopStatus]:
        return list(self._status.values())

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._show_leadership(), name="leadership gauge")]
        self._tasks += [
            asyncio.create_task(self._keep(loop), name=f"loop {loop.name}") for loop in self._loops
        ]

    async def _show_leadership(self) -> None:
        """Keep the ``scalehook_leader`` gauge in step with leadership."""
        while True:
            await self.leadership.acquired()
            self.metrics.leader.set(1)
            log.info("this instance (%s) leads: the loops run here", self.leadership.instance)
            await self.leadership.lost()
            self.metrics.leader.set(0)

    async def stop(self) -> None:
        """Cancel every loop and wait for each to end."""
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def _set(self, loop: Loop, **changes: object) -> None:
        self._status[loop.name] = replace(self._status[loop.name], **changes)  # type: ignore[arg-type]
        if "running" in changes:
            self.metrics.loop_running.labels(loop.name).set(1 if changes["running"] else 0)

    async def _keep(self, loop: Loop) -> None:
        delay = self.backoff
        while True:
            if loop.leader_only:
                await self.leadership.acquired()
            began = self.clock.monotonic()
            outcome = await self._run_once(loop)
            if outcome is None:  # returned, or stopped by a loss of leadership
                if loop.leader_only:
                    await self.leadership.lost()
                    continue
                return
            ran = self.clock.monotonic() - began
            if ran >= self.max_backoff:
                delay = self.backoff
            restarts = self._status[loop.name].restarts + 1
            self._set(
                loop,
                restarts=restarts,
                last_error=f"{type(outcome).__name__}: {outcome}",
                last_error_at=self.clock.now(),
            )
            self.metrics.loop_restarts.labels(loop.name).inc()
            log.error(
                "loop %s failed (restart %d in %.0fs)",
                loop.name,
                restarts,
                delay,
                exc_info=outcome,
            )
            await self.clock.sleep(delay)
            delay = min(delay * 2, self.max_backoff)

    async def _run_once(self, loop: Loop) -> BaseException | None:
        """Run the loop until it ends or (leader-only) leadership is lost; the error it
        raised, if any."""
        run = asyncio.create_task(loop.run(), name=f"loop {loop.name} run")
        lost = asyncio.create_task(self.leadership.lost()) if loop.leader_only else None
        self._set(loop, running=True)
        try:
            waiting = {run} if lost is None else {run, lost}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if not run.done():
                log.warning("this instance no longer leads: stopping loop %s", loop.name)
                run.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await run
        except BaseException:
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await run
            raise
        finally:
            if lost is not None:
                lost.cancel()
            self._set(loop, running=False)
        if run.cancelled():
            return None
        return run.exception()
