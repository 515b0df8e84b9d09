"""Whether this instance leads: the loops that need it run only while it does.

One instance alone always leads (``SoleLeadership``). Several instances on one
PostgreSQL elect one with a lease in the database; losing the lease (or the database)
must make ``leading`` false, and ``lost()`` return, before another instance can take
over, so that no two instances act at once.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from typing import Protocol


def instance_id() -> str:
    """A name for this process that people can read and that no other shares."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class Leadership(Protocol):
    @property
    def instance(self) -> str:
        """This instance's id (in ``/healthz`` and in the lease)."""
        ...

    @property
    def leading(self) -> bool: ...

    async def start(self) -> None: ...

    async def close(self) -> None:
        """Let go (a successor may take over at once)."""
        ...

    async def acquired(self) -> None:
        """Return once this instance leads (at once if it does)."""
        ...

    async def lost(self) -> None:
        """Return once this instance no longer leads (at once if it does not)."""
        ...


class LeadershipState:
    """The two events a ``Leadership`` implementation flips; waiters use them."""

    def __init__(self, instance: str) -> None:
        self._instance = instance
        self._leading = asyncio.Event()
        self._following = asyncio.Event()
        self._following.set()

    @property
    def instance(self) -> str:
        return self._instance

    @property
    def leading(self) -> bool:
        return self._leading.is_set()

    def _set_leading(self, leading: bool) -> None:
        if leading:
            self._following.clear()
            self._leading.set()
        else:
            self._leading.clear()
            self._following.set()

    async def acquired(self) -> None:
        await self._leading.wait()

    async def lost(self) -> None:
        await self._following.wait()


class SoleLeadership(LeadershipState):
    """The only instance: it leads from start to close."""

    def __init__(self, instance: str | None = None) -> None:
        super().__init__(instance or instance_id())

    async def start(self) -> None:
        self._set_leading(True)

    async def close(self) -> None:
        self._set_leading(False)
