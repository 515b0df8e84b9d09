"""What a loop is, and the periodic loop most of them are."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from scalehook.loops.clock import Clock


class Loop(Protocol):
    """Something scalehook runs on its own until cancelled.

    ``run`` may return (a one-shot job: it runs again the next time this instance
    becomes leader) or raise (the supervisor logs it, counts it and restarts it with
    backoff). A ``leader_only`` loop runs only while this instance leads.
    """

    @property
    def name(self) -> str: ...

    @property
    def leader_only(self) -> bool: ...

    async def run(self) -> None: ...


async def every(clock: Clock, interval: float, tick: Callable[[], Awaitable[None]]) -> None:
    """Run ``tick`` every ``interval`` seconds of ``clock``, from one start to the next
    (a slow tick delays the next one, never piles them up), until cancelled."""
    while True:
        began = clock.monotonic()
        await tick()
        await clock.sleep(max(0.0, interval - (clock.monotonic() - began)))
