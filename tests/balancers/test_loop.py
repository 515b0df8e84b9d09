"""The membership loop's timing, on the manual clock against a real HAProxy: it
reconciles at start, then again after each ``interval``, or at once when a backend
reports a change; never in between."""

from __future__ import annotations

import asyncio

from scalehook.backends import Backends
from scalehook.balancers.loop import MembershipLoop
from scalehook.balancers.membership import NoHealth
from scalehook.balancers.registry import Balancers
from scalehook.balancers.settings import BalancerSettings
from scalehook.loops.clock import ManualClock
from scalehook.metrics import Metrics
from tests.balancers.haproxy import HAProxy


async def settle(haproxy: HAProxy, gone: bool) -> bool:
    """Whether the stale server ``shk-old`` is gone (or still there) after a moment."""
    for _ in range(100):
        if ("shk-old" not in haproxy.servers()) == gone:
            return True
        await asyncio.sleep(0.02)
    return False


async def test_it_reconciles_every_interval_and_at_once_on_a_change(haproxy: HAProxy) -> None:
    clock = ManualClock()
    settings = BalancerSettings.model_validate(
        {
            "haproxy": {"socket": str(haproxy.socket)},
            "interval": "10s",
            "services": {"web": {"backend": "web_be"}},
        }
    )
    # No backend has `web`: each reconcile removes every server of ours in web_be.
    balancers = Balancers(
        {"edge": settings}, backends=Backends([]), health=NoHealth(), metrics=Metrics(), clock=clock
    )
    await balancers.start()
    loop = asyncio.create_task(MembershipLoop(balancers, clock).run())
    try:
        await clock.wait_sleeping(1)  # the first reconcile ran; now it waits 10s
        haproxy.add_foreign("web_be", "shk-old", "127.0.0.1:9")
        haproxy.command("enable server web_be/shk-old")
        assert await settle(haproxy, gone=False)  # not touched between reconciles
        await clock.advance(9)
        assert await settle(haproxy, gone=False)
        await clock.advance(1)
        assert await settle(haproxy, gone=True)  # the interval passed

        await clock.wait_sleeping(1)
        haproxy.add_foreign("web_be", "shk-old", "127.0.0.1:9")
        assert await settle(haproxy, gone=False)
        balancers.changed("local/web")  # a backend saw a replica change
        assert await settle(haproxy, gone=True)  # at once, the clock never moved
        assert "keep" in haproxy.servers()  # not ours: never touched
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
        await balancers.close()
