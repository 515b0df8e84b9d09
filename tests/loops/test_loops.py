"""The loop doorway: the manual clock, periodic loops, supervision and leadership.

Timing logic runs on the ``ManualClock``: time jumps, nothing sleeps.
"""

from __future__ import annotations

import asyncio

import pytest

from scalehook.loops import ManualClock, SoleLeadership, Supervisor, every
from scalehook.loops.leadership import LeadershipState
from scalehook.metrics import Metrics


class Handover(LeadershipState):
    """Leadership given and taken by the test: the seam's contract, driven by hand."""

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        self._set_leading(False)

    def give(self) -> None:
        self._set_leading(True)

    def take(self) -> None:
        self._set_leading(False)


class Ticker:
    """A periodic loop that records the clock's time at each tick, and can be told to fail."""

    def __init__(self, clock: ManualClock, interval: float, *, leader_only: bool = True) -> None:
        self.clock = clock
        self.interval = interval
        self.leader_only = leader_only
        self.name = "ticker"
        self.ticks: list[float] = []
        self.fail_next = 0
        self.cancelled = 0

    async def run(self) -> None:
        try:
            await every(self.clock, self.interval, self.tick)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise

    async def tick(self) -> None:
        self.ticks.append(self.clock.monotonic())
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("the metric source broke")


def sample(metrics: Metrics, name: str, labels: dict[str, str] | None = None) -> float:
    value = metrics.registry.get_sample_value(name, labels or {})
    return 0.0 if value is None else value


async def test_the_manual_clock_wakes_sleepers_in_order_and_moves_wall_time() -> None:
    clock = ManualClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.monotonic()))

    start = clock.now()
    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in (("b", 20), ("a", 5), ("c", 60))]
    await clock.wait_sleeping(3)
    await clock.advance(30)
    assert woke == [("a", 5.0), ("b", 20.0)]
    assert (clock.now() - start).total_seconds() == 30
    await clock.advance(30)
    assert woke[-1] == ("c", 60.0)
    await asyncio.gather(*tasks)


async def test_a_periodic_loop_ticks_at_its_interval_on_the_clock() -> None:
    clock = ManualClock()
    loop = Ticker(clock, 5)
    task = asyncio.create_task(loop.run())
    await clock.wait_sleeping(1)
    await clock.advance(12)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert loop.ticks == [0.0, 5.0, 10.0]


async def test_a_loop_that_raises_is_logged_counted_and_restarted_with_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, metrics = ManualClock(), Metrics()
    leadership = SoleLeadership("one")
    await leadership.start()
    supervisor = Supervisor(leadership, clock, metrics, backoff=1, max_backoff=8)
    loop = Ticker(clock, 5)
    loop.fail_next = 3
    supervisor.add(loop)
    await supervisor.start()
    try:
        await clock.wait_sleeping(1)  # the first run failed at once: backoff 1s
        assert supervisor.status()[0].restarts == 1
        await clock.advance(1)  # second run fails: backoff 2s
        await clock.advance(2)  # third run fails: backoff 4s
        assert loop.ticks == [0.0, 1.0, 3.0]
        await clock.advance(4)  # the fourth run keeps going
        await clock.advance(5)
        assert loop.ticks == [0.0, 1.0, 3.0, 7.0, 12.0]
        status = supervisor.status()[0]
        assert (status.restarts, status.running) == (3, True)
        assert status.last_error == "RuntimeError: the metric source broke"
        assert sample(metrics, "scalehook_loop_restarts_total", {"loop": "ticker"}) == 3
        assert sample(metrics, "scalehook_loop_running", {"loop": "ticker"}) == 1
        assert sample(metrics, "scalehook_leader") == 1
        assert "loop ticker failed (restart 3 in 4s)" in caplog.text
    finally:
        await supervisor.stop()
    assert loop.cancelled == 1
    assert sample(metrics, "scalehook_loop_running", {"loop": "ticker"}) == 0


async def test_a_leader_only_loop_runs_only_while_this_instance_leads() -> None:
    clock, metrics = ManualClock(), Metrics()
    leadership = Handover("a")
    supervisor = Supervisor(leadership, clock, metrics)
    leader_loop = Ticker(clock, 5)
    everywhere = Ticker(clock, 5, leader_only=False)
    everywhere.name = "everywhere"
    supervisor.add(leader_loop)
    supervisor.add(everywhere)
    await supervisor.start()
    try:
        await clock.wait_sleeping(1)
        await clock.advance(10)
        assert leader_loop.ticks == []  # not leading: never ran
        assert everywhere.ticks == [0.0, 5.0, 10.0]

        leadership.give()
        await clock.wait_sleeping(2)
        await clock.advance(5)
        assert leader_loop.ticks == [10.0, 15.0]
        assert sample(metrics, "scalehook_leader") == 1

        leadership.take()  # lost: the loop is cancelled before anything else ticks
        await asyncio.sleep(0.01)
        assert leader_loop.cancelled == 1
        assert sample(metrics, "scalehook_leader") == 0
        await clock.advance(20)
        assert leader_loop.ticks == [10.0, 15.0]
        assert supervisor.status()[0].restarts == 0  # losing leadership is no failure

        leadership.give()  # back: it starts again
        await clock.wait_sleeping(2)
        assert leader_loop.ticks == [10.0, 15.0, 35.0]
    finally:
        await supervisor.stop()


async def test_two_loops_with_one_name_are_refused() -> None:
    supervisor = Supervisor(SoleLeadership(), ManualClock(), Metrics())
    supervisor.add(Ticker(ManualClock(), 1))
    with pytest.raises(ValueError, match="two loops are named 'ticker'"):
        supervisor.add(Ticker(ManualClock(), 1))
