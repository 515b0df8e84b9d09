"""Evaluations by example: several metrics, failures, fallback, thresholds, schedules,
rollouts, scale from zero, simulate, and what the record says."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from scalehook.domain.policies import (
    Evaluation,
    History,
    PolicySpec,
    Reading,
    ReplicaValue,
    Sample,
    evaluate,
    parse_policy,
    simulate,
)

NOW = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(hours=1)
BERLIN = ZoneInfo("Europe/Berlin")
RAN = History(started=True)  # a policy that has run before, nothing in its windows


def policy(*metrics: dict[str, Any], **fields: Any) -> PolicySpec:
    raw: dict[str, Any] = {"name": "p", "service": "web", "min": 1, "max": 10}
    raw["metrics"] = list(metrics)
    raw.update(fields)
    return parse_policy(raw)


CPU = {"name": "cpu", "source": "engine", "metric": "cpu", "target": 50}
QUEUE = {"name": "queue", "source": "prometheus", "query": "sum(jobs)", "target": 100}
CONNS = {"name": "conns", "source": "balancer", "metric": "connections", "target": 20}
NO_DOWN_WINDOW = {"down": {"stabilization": "0s"}}


def per_replica(name: str, *values: float | None, when: datetime = NOW) -> Reading:
    return Reading(
        name,
        replicas=tuple(
            ReplicaValue(f"{name}-{i}", v, True, OLD, OLD, when, 1.0) for i, v in enumerate(values)
        ),
    )


def run(
    spec: PolicySpec,
    current: int,
    *readings: Reading,
    history: History = RAN,
    now: datetime = NOW,
    rollout: bool = False,
) -> Evaluation:
    return evaluate(
        spec,
        current=current,
        readings={r.name: r for r in readings},
        history=history,
        now=now,
        rollout_in_progress=rollout,
    )


# -- several metrics ---------------------------------------------------------------------


def test_the_largest_recommendation_wins() -> None:
    spec = policy(CPU, QUEUE, CONNS, behavior=NO_DOWN_WINDOW)
    got = run(
        spec,
        4,
        per_replica("cpu", 50, 50, 50, 50),
        Reading("queue", value=650),
        per_replica("conns", 10, 10, 10, 10),
    )
    assert [m.candidate for m in got.metrics] == [4, 7, 2]
    assert (got.recommendation, got.desired, got.winner) == (7, 7, "queue")
    assert got.reasons[-1] == "up from 4 to 7"


def test_a_failed_metric_holds_a_scale_down() -> None:
    spec = policy(CPU, QUEUE, behavior=NO_DOWN_WINDOW)
    got = run(spec, 4, per_replica("cpu", 10, 10, 10, 10), Reading.failed("queue", "timeout"))
    assert got.desired == 4
    assert got.limited_by == ("metric 'queue' failed: hold",)
    assert got.failed == ("queue",)
    assert got.history.failures == 1
    assert got.history.recommendations == []  # a hold records no recommendation
    assert any("never lowers it" in r for r in got.reasons)


def test_a_failed_metric_lets_another_scale_up() -> None:
    spec = policy(CPU, QUEUE)
    got = run(spec, 2, per_replica("cpu", 100, 100), Reading.failed("queue", "no data"))
    assert (got.desired, got.winner) == (4, "cpu")
    assert any("scaling up is safe" in r for r in got.reasons)


@pytest.mark.parametrize(
    "broken",
    [
        Reading.failed("queue", "connection refused"),
        Reading("queue"),  # empty
        Reading("queue", value=float("nan")),
        Reading("queue", value=float("inf")),
        Reading("queue", value=-3),
    ],
)
def test_failed_empty_nan_or_negative_never_reads_as_zero(broken: Reading) -> None:
    spec = policy(QUEUE, min=0, behavior=NO_DOWN_WINDOW)
    got = run(spec, 5, broken)
    assert got.desired == 5
    assert got.metrics[0].error is not None
    assert got.metrics[0].candidate is None


def test_a_missing_reading_fails() -> None:
    got = run(policy(QUEUE), 3)
    assert got.metrics[0].error == "no reading"
    assert got.desired == 3


def test_stale_samples_count_as_missing() -> None:
    # 4 replicas at 10 % but two samples are 10 minutes old: they count as missing, which
    # on a scale-down means 100 % each: (10 + 10 + 100 + 100) / 4 = 55 → hold.
    stale = NOW - timedelta(minutes=10)
    reading = Reading(
        "cpu",
        replicas=(
            ReplicaValue("a", 10, True, OLD, OLD, NOW, 1),
            ReplicaValue("b", 10, True, OLD, OLD, NOW, 1),
            ReplicaValue("c", 10, True, OLD, OLD, stale, 1),
            ReplicaValue("d", 10, True, OLD, OLD, stale, 1),
        ),
    )
    got = run(policy(CPU, behavior=NO_DOWN_WINDOW), 4, reading)
    assert got.desired == 4
    assert "2 without a sample" in got.metrics[0].reason


def test_all_metrics_failed_holds() -> None:
    got = run(
        policy(CPU, QUEUE),
        3,
        Reading.failed("cpu", "engine down"),
        Reading.failed("queue", "prometheus down"),
    )
    assert got.desired == 3
    assert got.limited_by == ("metric 'cpu' failed: hold", "metric 'queue' failed: hold")


# -- fallback ----------------------------------------------------------------------------


def test_fallback_after_failures_in_a_row() -> None:
    spec = policy(QUEUE, min=0, on_error={"fallback": 5, "failures": 3})
    history = RAN
    desired = []
    for _ in range(4):
        got = run(spec, 2, Reading.failed("queue", "down"), history=history)
        history = got.history
        desired.append(got.desired)
    assert desired == [2, 2, 5, 5]
    assert "fallback" in got.limited_by
    # one good reading ends the run
    got = run(spec, 5, Reading("queue", value=500), history=history)
    assert got.history.failures == 0


def test_fallback_works_from_zero() -> None:
    spec = policy(QUEUE, min=0, on_error={"fallback": 2, "failures": 1})
    got = run(spec, 0, Reading.failed("queue", "down"))
    assert got.desired == 2


def test_fallback_never_below_a_healthy_metrics_higher_recommendation() -> None:
    spec = policy(CPU, QUEUE, on_error={"fallback": 2, "failures": 1})
    got = run(spec, 4, per_replica("cpu", 100, 100, 100, 100), Reading.failed("queue", "down"))
    assert (got.desired, got.winner) == (8, "cpu")


def test_fallback_goes_down_through_the_down_behavior() -> None:
    spec = policy(
        QUEUE,
        on_error={"fallback": 2, "failures": 1},
        behavior={"down": {"stabilization": "1m", "rules": [{"replicas": 1, "period": "1m"}]}},
    )
    got = run(spec, 6, Reading.failed("queue", "down"))
    assert got.desired == 5
    assert got.limited_by == ("fallback", "rate rule 'replicas 1 per 1m'")


# -- rollouts, bounds, dry run -----------------------------------------------------------


def test_a_rollout_in_progress_holds_and_leaves_the_history() -> None:
    history = History(started=True, recommendations=[(NOW - timedelta(seconds=5), 3)])
    got = run(policy(CPU), 2, per_replica("cpu", 100, 100), history=history, rollout=True)
    assert (got.recommendation, got.desired) == (4, 2)
    assert got.limited_by == ("rollout in progress",)
    assert "rollout of web is in progress" in got.reasons[-1]
    assert got.history == history
    assert got.history is not history


def test_outside_the_bounds_goes_to_the_bound() -> None:
    spec = policy(CPU, min=2, max=5)
    assert run(spec, 9, per_replica("cpu", *[50] * 9)).desired == 5
    got = run(spec, 0, per_replica("cpu"))
    assert (got.desired, got.limited_by) == (2, ("min 2",))


def test_max_wins_over_a_metric() -> None:
    got = run(policy(QUEUE, max=6), 4, Reading("queue", value=5000))
    assert got.desired == 6
    assert got.limited_by == ("max 6",)


def test_dry_run_evaluates_the_same() -> None:
    reading = Reading("queue", value=650)
    wet = run(policy(QUEUE), 4, reading)
    dry = run(policy(QUEUE, dry_run=True), 4, reading)
    assert (dry.desired, dry.reasons) == (wet.desired, wet.reasons)


def test_tolerance_is_named() -> None:
    got = run(policy(CPU), 4, per_replica("cpu", 52, 52, 52, 52))
    assert got.desired == 4
    assert got.limited_by == ("tolerance",)


def test_rate_rules_and_stabilization_are_named() -> None:
    got = run(policy(QUEUE, max=100), 2, Reading("queue", value=5000))
    assert got.desired == 6  # +4 beats doubling
    assert got.limited_by == ("rate rule 'replicas 4 per 15s'",)
    history = History(started=True, recommendations=[(NOW - timedelta(minutes=1), 8)])
    got = run(policy(QUEUE), 8, Reading("queue", value=100), history=history)
    assert (got.recommendation, got.desired) == (1, 8)
    assert got.limited_by == ("stabilization",)


def test_the_first_evaluation_does_not_scale_down() -> None:
    spec = policy(QUEUE)
    first = run(spec, 8, Reading("queue", value=100), history=History())
    assert first.desired == 8
    later = run(
        spec,
        8,
        Reading("queue", value=100),
        history=first.history,
        now=NOW + timedelta(minutes=5, seconds=1),
    )
    assert later.desired == 1


def test_evaluate_does_not_change_its_arguments() -> None:
    history = History(
        started=True,
        recommendations=[(NOW - timedelta(seconds=30), 3)],
        scalings=[(NOW - timedelta(seconds=10), 1, 3)],
        streaks={"x": 2},
    )
    before = History.from_json(history.to_json())
    run(policy(CPU), 3, per_replica("cpu", 100, 100, 100), history=history)
    assert history == before


# -- thresholds --------------------------------------------------------------------------

DOUBLE = {
    "name": "load",
    "type": "threshold",
    "source": "engine",
    "metric": "cpu",
    "upper": 80,
    "lower": 20,
    "up": {"factor": 2},
    "down": {"factor": 0.5},
}


def sequence(spec: PolicySpec, current: int, values: Sequence[float]) -> list[int]:
    """Evaluate once per 15 s with every replica at ``value``; apply each change."""
    history = RAN
    counts = []
    for step, value in enumerate(values):
        now = NOW + timedelta(seconds=15 * step)
        got = run(
            spec,
            current,
            per_replica(spec.metrics[0].name, *[value] * current, when=now),
            history=history,
            now=now,
        )
        history = got.history.scaled(now, current, got.desired)
        current = got.desired
        counts.append(current)
    return counts


def test_threshold_doubles_and_halves() -> None:
    spec = policy(DOUBLE, max=16, behavior=NO_DOWN_WINDOW)
    assert sequence(spec, 2, [90, 90, 50, 10, 10]) == [4, 8, 8, 4, 2]


def test_threshold_waits_for_its_evaluations() -> None:
    spec = policy({**DOUBLE, "for": 3}, max=16, behavior=NO_DOWN_WINDOW)
    # 2 above, 1 inside (the run restarts), 3 above: acts; the run then starts again
    assert sequence(spec, 2, [90, 90, 50, 90, 90, 90, 90, 90, 90]) == [2, 2, 2, 2, 2, 4, 4, 4, 8]


def test_threshold_within_bounds_holds_a_scale_down_of_another_metric() -> None:
    spec = policy(DOUBLE, QUEUE, behavior=NO_DOWN_WINDOW)
    got = run(spec, 4, per_replica("load", 50, 50, 50, 50), Reading("queue", value=100))
    assert [m.candidate for m in got.metrics] == [4, 1]
    assert got.desired == 4
    assert "within bounds" in got.metrics[0].reason


def test_threshold_step_and_to() -> None:
    step = {**DOUBLE, "upper": 80, "lower": 10, "up": {"step": 2}, "down": {"to": 3}}
    spec = policy(step, max=10, behavior=NO_DOWN_WINDOW)
    assert sequence(spec, 3, [95, 95, 5]) == [5, 7, 3]


def test_threshold_on_a_service_wide_value() -> None:
    queue = {
        "name": "q",
        "type": "threshold",
        "source": "prometheus",
        "query": "sum(jobs)",
        "upper": 1000,
        "up": {"step": 1},
    }
    spec = policy(queue, min=0)
    assert run(spec, 0, Reading("q", value=5000)).desired == 1
    assert run(spec, 3, Reading("q", value=10)).desired == 3


# -- schedules ---------------------------------------------------------------------------

BUSINESS = {
    "name": "business-hours",
    "type": "schedule",
    "cron": "0 8 * * 1-5",
    "duration": "10h",
    "replicas": 4,
    "timezone": "Europe/Berlin",
}


def at(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """A Berlin wall time, as UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


def test_a_schedule_raises_the_floor_inside_its_window() -> None:
    spec = policy(QUEUE, BUSINESS)
    inside = run(spec, 1, Reading("queue", value=50), now=at(2024, 3, 4, 9, 0))
    assert (inside.recommendation, inside.desired, inside.winner) == (4, 4, "business-hours")
    assert inside.metrics[1].candidate == 4
    assert "until 2024-03-04 18:00 CET" in inside.metrics[1].reason
    before = run(spec, 1, Reading("queue", value=50), now=at(2024, 3, 4, 7, 59))
    assert before.desired == 1
    assert "next opens 2024-03-04 08:00 CET" in before.metrics[1].reason


def test_a_schedule_is_met_at_once_even_past_the_rate_rules() -> None:
    spec = policy(
        QUEUE,
        {**BUSINESS, "replicas": 9},
        behavior={"up": {"rules": [{"replicas": 1, "period": "1m"}]}},
    )
    got = run(spec, 1, Reading("queue", value=50), now=at(2024, 3, 4, 8, 0))
    assert got.desired == 9
    assert got.limited_by == ("rate rule 'replicas 1 per 1m'", "schedule 'business-hours'")


def test_a_schedule_within_max() -> None:
    spec = policy(QUEUE, {**BUSINESS, "replicas": 50}, max=6)
    got = run(spec, 1, Reading("queue", value=50), now=at(2024, 3, 4, 8, 0))
    assert got.desired == 6


def test_the_end_of_a_window_comes_down_through_the_down_behavior() -> None:
    spec = policy(
        QUEUE,
        BUSINESS,
        min=1,
        behavior={"down": {"stabilization": "5m", "rules": [{"replicas": 1, "period": "1m"}]}},
    )
    history = RAN
    current = 1
    counts = {}
    moment = at(2024, 3, 4, 17, 50)
    while moment < at(2024, 3, 4, 18, 12):
        got = run(spec, current, Reading("queue", value=50), history=history, now=moment)
        history = got.history.scaled(moment, current, got.desired)
        current = got.desired
        counts[moment.astimezone(BERLIN).strftime("%H:%M")] = current
        moment += timedelta(minutes=1)
    assert counts["17:50"] == counts["17:59"] == 4
    # 18:00 the window closes; the down window holds the last 4 (17:59) for 5 minutes,
    assert counts["18:03"] == 4
    # then one a minute, as the rule says
    assert [counts[t] for t in ("18:04", "18:05", "18:06", "18:07", "18:11")] == [3, 2, 1, 1, 1]


def test_schedules_follow_berlins_clock_across_dst() -> None:
    spec = policy(QUEUE, BUSINESS)
    # Friday 29 March (CET) and Monday 1 April (CEST), both 08:00 local
    assert run(spec, 1, Reading("queue", value=1), now=at(2024, 3, 29, 8, 0)).desired == 4
    assert run(spec, 1, Reading("queue", value=1), now=at(2024, 4, 1, 8, 0)).desired == 4
    assert run(spec, 1, Reading("queue", value=1), now=at(2024, 4, 1, 7, 59)).desired == 1
    assert datetime(2024, 4, 1, 6, 0, tzinfo=UTC) == at(2024, 4, 1, 8, 0)


def test_a_schedule_floor_holds_even_when_a_metric_fails() -> None:
    spec = policy(QUEUE, BUSINESS)
    got = run(spec, 2, Reading.failed("queue", "down"), now=at(2024, 3, 4, 8, 0))
    assert got.desired == 4
    assert "schedule 'business-hours'" in got.limited_by


# -- scale from zero ---------------------------------------------------------------------


def test_cpu_cannot_wake_a_service() -> None:
    got = run(policy(CPU, min=0), 0, Reading("cpu", replicas=()))
    assert got.desired == 0
    assert got.metrics[0].candidate is None
    assert "cannot wake" in got.metrics[0].reason
    assert got.metrics[0].error is None


def test_engine_metrics_never_propose_zero_when_nothing_can_wake() -> None:
    got = run(policy(CPU, min=0, behavior=NO_DOWN_WINDOW), 2, per_replica("cpu", 0, 0))
    assert got.desired == 1
    # with a metric that can wake the service, it may go to 0 and come back
    spec = policy(CPU, QUEUE, min=0, behavior=NO_DOWN_WINDOW)
    got = run(spec, 2, per_replica("cpu", 0, 0), Reading("queue", value=0))
    assert got.desired == 0
    back = run(spec, 0, Reading("cpu", replicas=()), Reading("queue", value=250))
    assert (back.desired, back.winner) == (3, "queue")


def test_the_balancers_wake_signal_lifts_a_service_from_zero() -> None:
    spec = policy(CONNS, min=0)
    assert run(spec, 0, Reading("conns", value=1)).desired == 1
    assert run(spec, 0, Reading("conns", value=0)).desired == 0
    assert run(spec, 0, Reading("conns", replicas=())).desired == 0


def test_a_percent_rule_can_wake_a_service() -> None:
    spec = policy(QUEUE, min=0, behavior={"up": {"rules": [{"percent": 100, "period": "15s"}]}})
    got = run(spec, 0, Reading("queue", value=900))
    assert got.desired == 1
    assert got.limited_by == ("rate rule 'percent 100 per 15s'",)


def test_a_service_with_replicas_but_no_samples_fails() -> None:
    got = run(policy(CPU), 3, Reading("cpu", replicas=()))
    assert got.metrics[0].error is not None
    assert got.desired == 3


# -- the record --------------------------------------------------------------------------


def test_details_are_json_and_explain() -> None:
    spec = policy(CPU, QUEUE, BUSINESS)
    got = run(
        spec,
        2,
        per_replica("cpu", 90, 90),
        Reading.failed("queue", "timeout"),
        now=at(2024, 3, 4, 9, 0),
    )
    details = json.loads(json.dumps(got.details()))
    assert details["desired"] == got.desired == 4
    assert [m["name"] for m in details["metrics"]] == ["cpu", "queue", "business-hours"]
    assert details["metrics"][1]["error"] == "timeout"
    assert details["winner"] in ("cpu", "business-hours")
    assert details["reasons"] == list(got.reasons)


def test_history_round_trips_through_json() -> None:
    history = History(
        recommendations=[(NOW, 3)],
        scalings=[(NOW, 2, 3)],
        failures=2,
        streaks={"t": -1},
        started=True,
    )
    assert History.from_json(json.loads(json.dumps(history.to_json()))) == history
    assert history.scaled(NOW, 3, 3) == history
    assert history.scaled(NOW, 3, 5).scalings[-1] == (NOW, 3, 5)


# -- simulate ----------------------------------------------------------------------------


def test_simulate_the_issues_example() -> None:
    spec = policy(CPU, QUEUE, CONNS)
    got = simulate(
        spec,
        current=3,
        samples={
            "cpu": [
                {"value": 80, "ready": True, "age": "1h"},
                Sample(value=70),
                {"value": None, "ready": False, "age": "5s"},
            ],
            "queue": [{"value": 250}],
            "conns": [{"value": 10}, {"value": 12}, {"value": 8}],
        },
        now=NOW,
    )
    # cpu: 75 % on 2, the third missing counts as 0 → 50 % on 3: within tolerance → 3;
    # queue: 250 / 100 → 3; conns 10 / 20 → 2.
    assert [m.candidate for m in got.metrics] == [3, 3, 2]
    assert got.desired == 3


def test_simulate_sets_aside_starting_cpu() -> None:
    spec = policy(CPU)
    got = simulate(
        spec,
        current=2,
        now=NOW,
        samples={"cpu": [{"value": 100, "age": "1h"}, {"value": 400, "age": "5s"}]},
    )
    assert "set aside (starting" in got.metrics[0].reason
    assert got.desired == 2  # 100 % on 1, the starting one as 0: 50 % on 2


def test_simulate_shows_a_scale_down() -> None:
    got = simulate(policy(QUEUE), current=8, samples={"queue": [{"value": 100}]}, now=NOW)
    assert got.desired == 1


def test_simulate_service_wide_takes_one_sample() -> None:
    got = simulate(
        policy(QUEUE), current=2, samples={"queue": [{"value": 1}, {"value": 2}]}, now=NOW
    )
    assert got.metrics[0].error == "a service-wide value is one sample, not 2"


def test_simulate_a_wake_from_zero() -> None:
    got = simulate(policy(CONNS, min=0), current=0, samples={"conns": [{"value": 3}]}, now=NOW)
    assert got.desired == 1


def test_a_start_with_a_failed_metric_still_waits_out_the_down_window() -> None:
    spec = policy(QUEUE)
    first = run(spec, 8, Reading.failed("queue", "starting"), history=History())
    assert first.desired == 8
    assert first.history.recommendations == [(NOW, 8)]
    soon = run(
        spec, 8, Reading("queue", value=100), history=first.history, now=NOW + timedelta(minutes=1)
    )
    assert (soon.recommendation, soon.desired) == (1, 8)


def test_naive_times_from_a_store_are_read_as_utc() -> None:
    naive = NOW.replace(tzinfo=None)
    history = History(
        started=True,
        recommendations=[(naive - timedelta(minutes=1), 6)],
        scalings=[(naive - timedelta(seconds=5), 2, 6)],
    )
    got = run(policy(QUEUE), 6, Reading("queue", value=100), history=history)
    assert got.desired == 6  # the down window holds the 6 of a minute ago
    assert all(t.tzinfo is not None for t, _ in got.history.recommendations)
    got = run(policy(QUEUE, max=20), 6, Reading("queue", value=2000), history=history)
    # 4 were added 5 s ago: the period started at 2, and 2 + 4 (or 2 doubled) is 6
    assert got.desired == 6
    assert got.limited_by == ("rate rule 'replicas 4 per 15s'",)
