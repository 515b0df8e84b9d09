"""Whether this instance leads: the loops that need it run only while it does.

One instance alone always leads (``SoleLeadership``). Several instances on one
PostgreSQL elect one with a lease in the database (``LeaseLeadership``); losing the
lease (or the database) makes ``leading`` false, and ``lost()`` return, before another
instance can take over, so that no two instances act at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from dataclasses import dataclass
from typing import Protocol

from scalehook.loops.clock import Clock

log = logging.getLogger(__name__)


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


@dataclass(frozen=True, slots=True)
class LeaseHolder:
    """Who holds a lease now (``None``: could not tell), and for how many more seconds
    by the database's clock."""

    holder: str | None
    remaining: float


class Leases(Protocol):
    """Where leases are kept (``store/leases.py``: a table in PostgreSQL)."""

    async def hold(self, name: str, holder: str, seconds: float) -> LeaseHolder:
        """Take ``name`` (free or expired) or renew it (``holder``'s) for ``seconds``."""
        ...

    async def release(self, name: str, holder: str) -> None: ...


class LeaseLeadership(LeadershipState):
    """Leads while it holds the lease ``name``: taken when free, renewed every ``renew``
    seconds, kept by the database for ``lease`` seconds after each renewal.

    A leader stops leading at ``lease - renew`` seconds after the start of its last
    successful renewal, whether or not a renewal is still under way: by then the
    database still holds the lease for it (at least ``renew`` seconds more, as it
    measured the lease from a later moment), so no other instance can have taken it,
    and the supervisor has cancelled the loops before one can. A follower asks again
    when the lease it saw is due to expire (at most every ``renew`` seconds), so it takes
    over within ``lease`` seconds of the leader's last renewal.
    """

    def __init__(
        self,
        leases: Leases,
        clock: Clock,
        *,
        lease: float = 15.0,
        renew: float = 5.0,
        name: str = "leader",
        instance: str | None = None,
    ) -> None:
        if not 0 < renew * 2 < lease:
            raise ValueError(f"renew ({renew:g}s) must be less than half the lease ({lease:g}s)")
        super().__init__(instance or instance_id())
        self.leases = leases
        self.clock = clock
        self.lease = lease
        self.renew = renew
        self.name = name
        self._valid_until = 0.0
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Ask for the lease once (a sole instance leads from its start), then keep
        asking and renewing in the background."""
        wait = await self._attempt()
        self._tasks = [
            asyncio.create_task(self._keep(wait), name="leader lease"),
            asyncio.create_task(self._watch(), name="leader lease deadline"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self.leading:
            self._drop("this instance is stopping")
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.renew):
                    await self.leases.release(self.name, self.instance)

    async def _attempt(self) -> float:
        """One try at the lease; how long to wait before the next one."""
        began = self.clock.monotonic()
        try:
            async with asyncio.timeout(self.renew):
                held = await self.leases.hold(self.name, self.instance, self.lease)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if self.leading:
                left = self._valid_until - self.clock.monotonic()
                log.warning(
                    "cannot renew the leader lease (%s); leading for %.1fs more unless renewed",
                    _reason(exc),
                    max(0.0, left),
                )
            else:
                log.warning("cannot ask for the leader lease: %s", _reason(exc))
            return self.renew
        if held.holder == self.instance:
            valid_until = began + self.lease - self.renew
            if valid_until > self.clock.monotonic():
                self._valid_until = valid_until
                if not self.leading:
                    log.info("this instance (%s) holds the leader lease", self.instance)
                    self._set_leading(True)
            return max(0.0, self.renew - (self.clock.monotonic() - began))
        if self.leading:
            self._drop(f"the lease is held by {held.holder}")
        # Ask again as the lease is due to expire, and at least every `renew` seconds.
        return min(self.renew, held.remaining + 0.05)

    async def _keep(self, wait: float) -> None:
        while True:
            await self.clock.sleep(wait)
            wait = await self._attempt()

    async def _watch(self) -> None:
        """Stop leading at the deadline, even while a renewal hangs."""
        while True:
            await self.acquired()
            left = self._valid_until - self.clock.monotonic()
            if left <= 0:
                self._drop(f"no renewal of the lease for {self.lease - self.renew:g}s")
                continue
            await self.clock.sleep(left)

    def _drop(self, why: str) -> None:
        if self.leading:
            log.warning("this instance (%s) stops leading: %s", self.instance, why)
            self._set_leading(False)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "the database did not answer in time"
    message = getattr(exc, "message", None)
    return str(message or exc or type(exc).__name__)
