"""Strategies and storm limits (domain/recovery.py), property-tested: none never
recreates, quorum only with enough healthy, one at a time, and however often the
planner is asked, recreations stay within the backoff and the cap per window."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from scalehook.domain.health import STATES, ReplicaHealth
from scalehook.domain.healthchecks import HealthCheckSpec
from scalehook.domain.recovery import Limits, backoff_after, next_allowed, plan

T0 = datetime(2026, 1, 1, tzinfo=UTC)

limits_st = st.builds(
    Limits,
    max_recreations=st.integers(1, 6),
    window=st.floats(1, 600),
    backoff=st.floats(0, 60),
    max_backoff=st.floats(60, 300),
)


@st.composite
def replicas_st(draw: st.DrawFn) -> list[ReplicaHealth]:
    count = draw(st.integers(0, 6))
    found = []
    for n in range(count):
        state = draw(st.sampled_from(STATES))
        found.append(
            ReplicaHealth(
                replica=f"web-{n + 1}",
                state=state,
                since=T0,
                entered=draw(st.floats(0, 1000)),
                reason=f"{state} for a reason",
                ever_healthy=draw(st.booleans()) or state == "healthy",
                overdue=state in ("initializing", "reinitializing") and draw(st.booleans()),
                replacing=draw(st.sampled_from([None, "web-9"])),
            )
        )
    return found


@given(
    limits_st,
    st.lists(st.floats(0, 5), min_size=1, max_size=400),
)
def test_a_greedy_recreator_stays_within_the_cap_and_the_backoff(
    limits: Limits, gaps: list[float]
) -> None:
    """Asked at every moment (a replica failing for ever), the limits allow at most
    max_recreations per window, spaced by the doubling backoff."""
    now = 0.0
    done: list[float] = []
    for gap in gaps:
        now += gap
        at, why = next_allowed(done, limits, now)
        if not why:
            assert at == now
            done.append(now)
        else:
            assert at > now
    for i in range(len(done) - limits.max_recreations):
        assert done[i + limits.max_recreations] - done[i] >= limits.window
    for i in range(1, len(done)):
        in_window = sum(1 for t in done[:i] if done[i] - t < limits.window)
        if in_window:
            assert done[i] - done[i - 1] >= backoff_after(in_window, limits) - 1e-9


def test_the_backoff_doubles_up_to_its_max() -> None:
    limits = Limits(max_recreations=10, window=600, backoff=10, max_backoff=60)
    assert [backoff_after(n, limits) for n in range(6)] == [0, 10, 20, 40, 60, 60]
    at, why = next_allowed([0.0, 10.0], limits, 15.0)
    assert (at, why.split(":")[0]) == (30.0, "backoff")
    capped = Limits(max_recreations=2, window=100, backoff=0, max_backoff=0)
    at, why = next_allowed([0.0, 1.0], capped, 5.0)
    assert at == 100.0 and why.startswith("max_recreations reached: 2 in the last 1m40s")


@given(
    st.sampled_from(["none", "recreate", "quorum"]),
    st.integers(1, 6),
    replicas_st(),
    st.booleans(),
)
def test_what_a_plan_may_recreate(
    strategy: str, quorum: int, replicas: list[ReplicaHealth], busy: bool
) -> None:
    limits = Limits(5, 600, 0, 0)
    decided = plan(
        strategy,  # type: ignore[arg-type]
        quorum,
        replicas,
        recreations=[],
        limits=limits,
        now=1000.0,
        busy=busy,
    )
    healthy = sum(1 for r in replicas if r.state == "healthy")
    failing = [r for r in replicas if r.failing]
    assert decided.healthy == healthy
    assert decided.all_failing == (bool(replicas) and len(failing) == len(replicas))
    if decided.recreate is None:
        return
    target = decided.recreate
    assert strategy != "none"
    assert not busy
    assert target.failing
    assert target.entered == min(r.entered for r in failing)
    assert not any(r.replacing and r.state == "reinitializing" for r in replicas)
    if strategy == "quorum":
        assert healthy >= quorum
    if decided.all_failing:
        assert not any(r.replacing and not r.ever_healthy for r in replicas)


@given(replicas_st())
def test_none_reports_every_failing_replica_and_replaces_none(
    replicas: list[ReplicaHealth],
) -> None:
    decided = plan("none", 1, replicas, recreations=[], limits=Limits(5, 60, 0, 0), now=0)
    assert decided.recreate is None
    assert {h.replica for h in decided.holds} == {r.replica for r in replicas if r.failing}
    assert all(h.why == "strategy_none" for h in decided.holds)


def unhealthy(name: str, **changes: object) -> ReplicaHealth:
    base = ReplicaHealth(name, "unhealthy", T0, 0.0, "failed 3 checks", ever_healthy=True)
    return replace(base, **changes)  # type: ignore[arg-type]


def healthy(name: str) -> ReplicaHealth:
    return ReplicaHealth(name, "healthy", T0, 0.0, "passed", ever_healthy=True)


def test_quorum_holds_until_enough_are_healthy() -> None:
    replicas = [unhealthy("web-1"), healthy("web-2")]
    held = plan("quorum", 2, replicas, recreations=[], limits=Limits(5, 60, 0, 0), now=0)
    assert held.recreate is None and held.holds[0].why == "quorum"
    assert "only 1 healthy replica, quorum 2" in held.holds[0].message
    going = plan("quorum", 1, replicas, recreations=[], limits=Limits(5, 60, 0, 0), now=0)
    assert going.recreate is not None and going.recreate.replica == "web-1"


def test_a_lone_hung_replica_is_recreated_but_a_replacement_that_never_passed_is_not() -> None:
    limits = Limits(5, 600, 0, 0)
    lone = plan("recreate", 1, [unhealthy("web-1")], recreations=[], limits=limits, now=0)
    assert lone.all_failing and lone.recreate is not None
    failed_again = unhealthy("web-2", ever_healthy=False, replacing="web-1")
    stop = plan("recreate", 1, [failed_again], recreations=[0.0], limits=limits, now=100)
    assert stop.recreate is None and stop.holds[0].why == "everywhere"
    assert "web-2, made to replace web-1, has never passed" in stop.holds[0].message


def test_a_failed_attempt_while_every_replica_fails_stops_the_recreations() -> None:
    limits = Limits(5, 600, 0, 0)
    replicas = [unhealthy("web-1"), unhealthy("web-2")]
    stop = plan(
        "recreate",
        1,
        replicas,
        recreations=[0.0],
        limits=limits,
        now=100,
        failed_attempt="web-3 was not ready within 4s",
    )
    assert stop.recreate is None and stop.holds[0].why == "everywhere"
    assert "recreating one failed (web-3 was not ready within 4s)" in stop.holds[0].message
    going = plan(
        "recreate",
        1,
        [*replicas, healthy("web-4")],
        recreations=[0.0],
        limits=limits,
        now=100,
        failed_attempt="web-3 was not ready within 4s",
    )
    assert going.recreate is not None


def test_a_replacement_still_reinitializing_holds_the_next() -> None:
    waiting = ReplicaHealth("web-3", "reinitializing", T0, 0.0, "recreated", replacing="web-1")
    decided = plan(
        "recreate",
        1,
        [waiting, unhealthy("web-2")],
        recreations=[],
        limits=Limits(5, 60, 0, 0),
        now=0,
    )
    assert decided.recreate is None and not decided.holds


def test_the_limits_hold_and_say_until_when() -> None:
    limits = Limits(max_recreations=5, window=600, backoff=10, max_backoff=300)
    decided = plan(
        "recreate",
        1,
        [unhealthy("web-1"), healthy("web-2")],
        recreations=[0.0, 10.0],
        limits=limits,
        now=15.0,
    )
    assert decided.recreate is None and decided.retry_at == 30.0
    assert decided.holds[0].why == "limit"
    assert "backoff: 20s after the last recreation (2 in the last 10m)" in decided.holds[0].message


def test_defaults_read_as_limits() -> None:
    assert Limits.of(HealthCheckSpec()) == Limits(5, 600.0, 10.0, 300.0)
