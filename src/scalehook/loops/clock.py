"""The one clock: wall time for records and cooldowns, monotonic time and sleep for
intervals and deadlines.

Everything that decides by time (cooldowns, rate limits, rollouts, loops) reads it from
an injected ``Clock``, so its tests run on a ``ManualClock`` that jumps ahead instead of
sleeping. ``SystemClock`` is the real one.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The wall time, timezone-aware (UTC)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for intervals and deadlines)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """The machine's clocks and asyncio's sleep."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """A clock that moves only when told: ``await clock.advance(30)``.

    Sleepers whose time has come are woken in deadline order; after each wake,
    ``advance`` lets the woken tasks run until each of them sleeps on this clock again
    or finishes (bounded by ``settle`` seconds of real time, for a task waiting on real
    I/O), so a loop's next tick happens at the time it asked for. Wall time moves with
    monotonic time.
    """

    def __init__(self, start: datetime | None = None, *, settle: float = 10.0) -> None:
        self._start = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._elapsed = 0.0
        self._settle = settle
        self._order = itertools.count()
        self._sleepers: list[_Sleeper] = []

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        task = asyncio.current_task()
        due = self._elapsed + max(0.0, seconds)
        heapq.heappush(self._sleepers, _Sleeper(due, next(self._order), future, task))
        await future

    @property
    def sleeping(self) -> int:
        """How many sleeps wait on this clock now."""
        return sum(1 for s in self._sleepers if not s.future.done())

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, waking every sleeper due on the way."""
        target = self._elapsed + max(0.0, seconds)
        await _yield()
        while self._sleepers and self._sleepers[0].due <= target:
            self._elapsed = max(self._elapsed, self._sleepers[0].due)
            before = self.sleeping
            woken: list[asyncio.Task[object]] = []
            while self._sleepers and self._sleepers[0].due <= self._elapsed:
                sleeper = heapq.heappop(self._sleepers)
                if sleeper.future.done():
                    continue
                sleeper.future.set_result(None)
                if sleeper.task is not None:
                    woken.append(sleeper.task)
            await self._settled(before, woken)
        self._elapsed = target
        await _yield()

    async def wait_sleeping(self, count: int, *, timeout: float | None = None) -> None:
        """Wait (in real time) until at least ``count`` sleeps wait on this clock."""
        async with asyncio.timeout(self._settle if timeout is None else timeout):
            while self.sleeping < count:
                await asyncio.sleep(0.001)

    async def _settled(self, before: int, woken: list[asyncio.Task[object]]) -> None:
        """Yield until the woken tasks have gone back to sleep on this clock (as many
        sleeps wait as before the wake, less the tasks that ended), or ``settle`` passes."""
        await _yield()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settle
        while loop.time() < deadline:
            ended = sum(1 for task in woken if task.done())
            if self.sleeping >= before - ended:
                return
            await asyncio.sleep(0.001)


@dataclass(order=True)
class _Sleeper:
    due: float
    order: int
    future: asyncio.Future[None] = field(compare=False)
    task: asyncio.Task[object] | None = field(compare=False)


async def _yield(turns: int = 5) -> None:
    for _ in range(turns):
        await asyncio.sleep(0)
