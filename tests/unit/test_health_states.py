"""The replica health state machine (domain/health.py), property-tested: transitions
happen exactly at the thresholds and timeouts, each with its reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from scalehook.domain.health import (
    STATES,
    CheckResult,
    ReplicaHealth,
    Rules,
    expire,
    first_seen,
    observe,
    restarted,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)

rules_st = st.builds(
    Rules,
    healthy_threshold=st.integers(1, 5),
    unhealthy_threshold=st.integers(1, 5),
    initializing_timeout=st.floats(1, 100),
    reinitializing_timeout=st.floats(1, 100),
    acts=st.booleans(),
)
# (seconds since the previous check, verdict)
steps_st = st.lists(st.tuples(st.floats(0, 30), st.sampled_from([True, False, None])), max_size=60)


def result(ok: bool | None, mono: float) -> CheckResult:
    detail = {True: "HTTP 200", False: "HTTP 500", None: "starting"}[ok]
    return CheckResult(ok=ok, detail=detail, at=T0 + timedelta(seconds=mono))


def run(
    rules: Rules, steps: list[tuple[float, bool | None]], start: ReplicaHealth | None = None
) -> list[tuple[float, bool | None, ReplicaHealth, ReplicaHealth]]:
    """(time, verdict, before, after) of each check, as the health loop applies them."""
    mono = 0.0
    health = start or first_seen("web-1", now=T0, mono=0.0, rules=rules)
    trace = []
    for gap, ok in steps:
        mono += gap
        before = health
        health = expire(
            observe(health, result(ok, mono), rules, mono=mono),
            rules,
            now=T0 + timedelta(seconds=mono),
            mono=mono,
        )
        trace.append((mono, ok, before, health))
    return trace


@given(rules_st, steps_st)
def test_a_replica_is_healthy_only_after_healthy_threshold_passes_in_a_row(
    rules: Rules, steps: list[tuple[float, bool | None]]
) -> None:
    verdicts: list[bool] = []
    for _, ok, before, after in run(rules, steps):
        if ok is not None:
            verdicts.append(ok)
        if after.state == "healthy" and before.state != "healthy":
            assert ok is True
            assert verdicts[-rules.healthy_threshold :] == [True] * rules.healthy_threshold
            assert after.reason.startswith("passed ")
            assert after.ever_healthy


@given(rules_st, steps_st)
def test_a_healthy_replica_turns_unhealthy_exactly_at_unhealthy_threshold(
    rules: Rules, steps: list[tuple[float, bool | None]]
) -> None:
    streak = 0
    for _, ok, before, after in run(rules, steps):
        if ok is True:
            streak = 0
        elif ok is False:
            streak += 1
        if before.state == "healthy":
            if ok is False and streak >= rules.unhealthy_threshold:
                assert after.state == "unhealthy"
                assert after.reason.startswith(f"failed {streak} check")
                assert "HTTP 500" in after.reason
            else:
                assert after.state == "healthy"
        if before.state != "healthy":
            streak = 0 if ok is not False else streak


@given(rules_st, steps_st)
def test_initializing_becomes_unhealthy_only_by_its_timeout_and_only_when_the_strategy_acts(
    rules: Rules, steps: list[tuple[float, bool | None]]
) -> None:
    for mono, _, before, after in run(rules, steps):
        if before.state in ("initializing", "reinitializing") and after.state == "unhealthy":
            assert rules.acts
            assert mono - before.entered >= rules.initializing_timeout
            assert "initializing_timeout" in after.reason and "passed without" in after.reason
        if after.overdue:
            assert not rules.acts and after.state == "initializing"
            assert "strategy none" in after.reason


@given(rules_st, steps_st)
def test_a_check_without_verdict_changes_nothing_but_the_last_result(
    rules: Rules, steps: list[tuple[float, bool | None]]
) -> None:
    for mono, ok, before, after in run(rules, steps):
        if ok is None and not (after.state != before.state or after.overdue != before.overdue):
            assert (after.passes, after.failures, after.state) == (
                before.passes,
                before.failures,
                before.state,
            )
            assert after.last is not None and after.last.ok is None
        if ok is None and after.state != before.state:
            # only time moves a state on a check without verdict
            assert before.state in ("initializing", "reinitializing")
            assert mono - before.entered >= rules.initializing_timeout


@given(rules_st, steps_st)
def test_since_moves_exactly_when_the_state_does(
    rules: Rules, steps: list[tuple[float, bool | None]]
) -> None:
    for mono, _, before, after in run(rules, steps):
        assert after.state in STATES
        if after.state != before.state:
            assert after.since == T0 + timedelta(seconds=mono)
            assert after.entered == mono
        else:
            assert (after.since, after.entered) == (before.since, before.entered)


@given(rules_st, steps_st)
def test_the_failed_checks_of_an_unhealthy_replica_are_its_streak(
    rules: Rules, steps: list[tuple[float, bool | None]]
) -> None:
    for _, _, _, after in run(rules, steps):
        assert all(c.ok is False for c in after.failed)
        assert len(after.failed) == min(after.failures, 10)


def test_a_hung_replica_reads_as_cattle_would_say_it_and_more() -> None:
    rules = Rules(2, 3, initializing_timeout=60, reinitializing_timeout=60, acts=True)
    trace = run(rules, [(2, True), (2, True), (2, False), (2, False), (2, False)])
    states = [after.state for *_, after in trace]
    assert states == ["initializing", "healthy", "healthy", "healthy", "unhealthy"]
    assert (
        trace[0][3].reason
        == "waiting for 2 checks passing in a row (1 so far; last check: HTTP 200)"
    )
    assert trace[-1][3].reason == "failed 3 checks in a row (last: HTTP 500)"


def test_stuck_initializing_says_why_and_with_none_stays() -> None:
    for acts, state in ((True, "unhealthy"), (False, "initializing")):
        rules = Rules(2, 3, initializing_timeout=60, reinitializing_timeout=60, acts=acts)
        *_, (_, _, _, after) = run(rules, [(30, False), (31, False)])
        assert after.state == state
        assert "initializing_timeout (1m)" in after.reason
        assert "last check: HTTP 500" in after.reason
        assert after.overdue is (not acts)


def test_a_replica_found_serving_when_the_check_begins_needs_one_pass() -> None:
    rules = Rules(3, 3, 60, 60, acts=True)
    health = first_seen("web-1", now=T0, mono=0, rules=rules, serving=True)
    assert health.state == "initializing" and health.passes == 2
    assert run(rules, [(1, True)], start=health)[-1][3].state == "healthy"
    assert run(rules, [(1, False), (1, True)], start=health)[-1][3].state == "initializing"


def test_a_restart_reinitializes_a_healthy_replica_and_keeps_an_initializing_ones_clock() -> None:
    rules = Rules(1, 1, 60, 60, acts=True)
    healthy = run(rules, [(1, True)])[-1][3]
    again = restarted(healthy, now=T0, mono=5, why="restarted (1 restart(s) so far)")
    assert (again.state, again.entered, again.ever_healthy) == ("reinitializing", 5, False)
    new = first_seen("web-2", now=T0, mono=0, rules=rules)
    kept = restarted(new, now=T0, mono=50, why="restarted")
    assert kept.state == "initializing" and kept.entered == 0
