"""The leader lease on a real PostgreSQL: one leader at a time, a successor when it lets
go or its lease expires, and a leader that cannot renew stops leading before its lease
can expire. Local time is the manual clock; the lease's own time is the database's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from scalehook.loops import LeaseLeadership, ManualClock
from scalehook.store import Store
from scalehook.testing_postgres import PostgresCluster
from tests.postgres.proxy import Relay


@pytest.fixture
async def store(postgres: PostgresCluster) -> AsyncIterator[Store]:
    opened = Store(postgres.create_database())
    await opened.open()
    yield opened
    await opened.close()


async def test_one_leads_and_another_takes_over_when_it_lets_go(store: Store) -> None:
    clock = ManualClock()
    a = LeaseLeadership(store.leases, clock, lease=15, renew=5, instance="a")
    b = LeaseLeadership(store.leases, clock, lease=15, renew=5, instance="b")
    await a.start()
    await b.start()
    try:
        assert (a.leading, b.leading) == (True, False)
        await clock.advance(20)  # a renews; b keeps asking
        assert (a.leading, b.leading) == (True, False)
        await a.close()  # lets go: the lease expires at once
        assert not a.leading
        await clock.advance(5)
        assert b.leading
    finally:
        await a.close()
        await b.close()


async def test_a_lease_not_renewed_passes_to_another_when_it_expires(store: Store) -> None:
    """``a`` stops renewing (its task is gone, as in ``kill -9``): ``b`` takes the lease
    only once the database says it expired."""
    clock = ManualClock()
    a = LeaseLeadership(store.leases, clock, lease=1.5, renew=0.5, instance="a")
    b = LeaseLeadership(store.leases, clock, lease=1.5, renew=0.5, instance="b")
    await a.start()
    for task in a._tasks:  # a dies without a word
        task.cancel()
    await b.start()
    try:
        assert not b.leading
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not b.leading and loop.time() < deadline:
            await clock.advance(0.5)
            await asyncio.sleep(0.1)  # the lease expires by the database's clock
        assert b.leading
    finally:
        await b.close()


async def test_a_leader_that_cannot_renew_stops_leading_before_its_lease_expires(
    postgres: PostgresCluster,
) -> None:
    """The leader's database connection goes silent (its renewals hang): it stops
    leading at ``lease - renew`` after its last renewal began, while the database still
    keeps the lease for it, so no other instance can have taken over."""
    clock = ManualClock(settle=1.0)
    url = postgres.create_database()
    with Relay(postgres.port) as relay:
        mine = Store(url.replace(f":{postgres.port}/", f":{relay.port}/"))
        rival = Store(url)
        await mine.open()
        await rival.open()
        leader = LeaseLeadership(mine.leases, clock, lease=15, renew=5, instance="leader")
        other = LeaseLeadership(rival.leases, clock, lease=15, renew=5, instance="other")
        try:
            await leader.start()
            await other.start()
            assert (leader.leading, other.leading) == (True, False)
            lost = asyncio.create_task(leader.lost())
            relay.freeze()
            await clock.advance(9.9)  # the renewal at 5s hangs
            assert leader.leading and not lost.done()
            await clock.advance(0.2)  # 10.1s after the last renewal began
            await asyncio.wait_for(lost, 5)
            assert not leader.leading
            assert not other.leading
            held = await rival.leases.hold("leader", "other", 15)
            assert held.holder == "leader"  # the database still keeps it for the leader
        finally:
            relay.thaw()
            await leader.close()
            await other.close()
            await mine.close()
            await rival.close()
