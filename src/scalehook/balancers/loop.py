"""The loop that keeps balancers in step: leader-only; each balancer reconciles every
``interval`` of its own, and at once when a backend reports a replica change."""

from __future__ import annotations

import asyncio
import contextlib

from scalehook.balancers.membership import Membership
from scalehook.balancers.registry import Balancers
from scalehook.loops.clock import Clock


class MembershipLoop:
    name = "balancers"
    leader_only = True

    def __init__(self, balancers: Balancers, clock: Clock) -> None:
        self._balancers = balancers
        self._clock = clock

    async def run(self) -> None:
        await asyncio.gather(*(self._keep(b) for b in self._balancers))

    async def _keep(self, balancer: Membership) -> None:
        while True:
            balancer.wake.clear()
            await balancer.reconcile()
            await self._pause(balancer)

    async def _pause(self, balancer: Membership) -> None:
        """Until the balancer's ``interval`` has passed, or a change is reported."""
        sleep = asyncio.ensure_future(self._clock.sleep(balancer.settings.interval))
        woken = asyncio.ensure_future(balancer.wake.wait())
        try:
            await asyncio.wait({sleep, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleep, woken):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
