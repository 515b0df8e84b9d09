"""The control of one running rollout: what an operator asked of it (pause, resume,
cancel, roll back), held where the engine rolling it can see it.

It is the ``RolloutControl`` an engine gets with ``Backend.upgrade``: the engine reads
``paused`` and ``command``, waits in ``hold`` between batches, and says when it holds
by itself (Swarm) or cannot obey a command now (``refuse``). The operator's side
(``pause``, ``resume``, ``give``) is called by ``rollouts.py``, which also keeps the pause
and the command in the rollout's row, so a restart obeys them too; what happens is
reported through ``report`` into the rollout's execution.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from typing import Literal

from scalehook.backends.base import Command
from scalehook.domain.rollout_views import ControlState

Report = Callable[[str], Awaitable[None]]


async def _nothing(_text: str) -> None:
    return


class Steering:
    def __init__(
        self, *, paused: bool = False, command: Command | None = None, report: Report = _nothing
    ) -> None:
        self._paused = paused
        self._command: Command | None = command
        self._resumed = asyncio.Event()
        self._commanded = asyncio.Event()
        if not paused:
            self._resumed.set()
        if command is not None:
            self._commanded.set()
        self.holding_at: str | None = None
        self.refused: dict[str, str] = {}
        self.report = report

    # what the engine reads -----------------------------------------------------------

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def command(self) -> Command | None:
        return self._command

    async def hold(self, where: str) -> None:
        if not self._paused or self._command is not None:
            return
        await self.holding(where)
        waits = [asyncio.ensure_future(e.wait()) for e in (self._resumed, self._commanded)]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
            self.holding_at = None
        if self._command is None:
            await self.report("resumed: going on")

    async def commanded(self) -> Command:
        await self._commanded.wait()
        assert self._command is not None
        return self._command

    async def holding(self, where: str | None) -> None:
        if where is None:
            self.holding_at = None
            return
        if self.holding_at is None:
            self.holding_at = where
            await self.report(f"paused: holds {where}")

    def refuse(self, commands: Collection[Command | Literal["pause"]], reason: str | None) -> None:
        for command in commands:
            if reason is None:
                self.refused.pop(command, None)
            else:
                self.refused[command] = reason

    # what the operator asks ----------------------------------------------------------

    def pause(self) -> None:
        self._paused = True
        self._resumed.clear()

    def resume(self) -> None:
        self._paused = False
        self._resumed.set()

    def give(self, command: Command) -> None:
        """A cancel or a rollback; a rollback ends a pause (it must move to go back)."""
        self._command = command
        if command == "rollback":
            self.resume()
        self._commanded.set()

    def rolling_back(self) -> bool:
        """The rollout rolls back now: a rollback asked is obeyed (True if one was)."""
        if self._command != "rollback":
            return False
        self._command = None
        self._commanded.clear()
        return True

    def state(self) -> ControlState:
        return ControlState(
            paused=self._paused,
            command=self._command,
            holding=self.holding_at,
            refused=dict(self.refused),
        )
