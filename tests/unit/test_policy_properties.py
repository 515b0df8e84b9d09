"""The rules' promises, property-tested: bounds, tolerance, monotonic in the metric, no
flapping, HPA's missing/not-ready rules, rate rules, failed metrics, schedule floors."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from scalehook.domain.policies import (
    Evaluation,
    History,
    PolicySpec,
    Reading,
    ReplicaValue,
    evaluate,
)
from scalehook.domain.policies.cron import open_window
from scalehook.domain.policies.spec import ScheduleMetric, TargetMetric
from scalehook.domain.policies.target import Tolerances, group, per_replica

NOW = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(hours=2)
INTERVAL = 15

PROPERTY = settings(max_examples=150, deadline=None)

# -- strategies --------------------------------------------------------------------------

loads = st.floats(0, 5000, allow_nan=False)
per_replica_values = st.one_of(st.none(), st.floats(0, 400, allow_nan=False))

rules = st.sampled_from(
    [
        [{"percent": 100, "period": "15s"}, {"replicas": 4, "period": "15s"}],
        [{"percent": 100, "period": "15s"}],
        [{"replicas": 1, "period": "30s"}],
        [{"percent": 50, "period": "1m"}, {"replicas": 2, "period": "15s"}],
        [{"replicas": 3, "period": "45s"}],
    ]
)


@st.composite
def behaviors(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "up": {
            "stabilization": draw(st.sampled_from(["0s", "30s", "2m"])),
            "rules": draw(rules),
            "select": draw(st.sampled_from(["max", "min"])),
        },
        "down": {
            "stabilization": draw(st.sampled_from(["0s", "1m", "5m"])),
            "rules": draw(rules),
            "select": draw(st.sampled_from(["max", "min"])),
        },
    }


METRICS = {
    "cpu": {"name": "cpu", "source": "engine", "metric": "cpu", "target": 60},
    "mem": {"name": "mem", "source": "engine", "metric": "memory", "unit": "percent", "target": 80},
    "conns": {"name": "conns", "source": "balancer", "metric": "connections", "target": 20},
    "queue": {"name": "queue", "source": "prometheus", "query": "sum(q)", "target": 100},
    "step": {
        "name": "step",
        "type": "threshold",
        "source": "prometheus",
        "query": "sum(q)",
        "upper": 800,
        "lower": 100,
        "up": {"step": 1},
        "down": {"step": 1},
        "for": 2,
    },
}


@st.composite
def policies(
    draw: st.DrawFn, *, names: list[str] | None = None, fallback: bool | None = None
) -> PolicySpec:
    """Policies; ``fallback`` True: with one, False: ``hold``, None: either."""
    low = draw(st.integers(0, 5))
    high = low + draw(st.integers(1, 30))
    chosen = names or draw(
        st.lists(st.sampled_from(sorted(METRICS)), min_size=1, max_size=3, unique=True)
    )
    raw: dict[str, Any] = {
        "name": "p",
        "service": "web",
        "min": low,
        "max": high,
        "metrics": [METRICS[n] for n in chosen],
        "behavior": draw(behaviors()),
        "tolerance": draw(st.sampled_from([0.1, 0.0, 0.25, {"up": 0.05, "down": 0.3}])),
        "cpu_initialization": "2m",
    }
    if fallback or (fallback is None and draw(st.booleans())):
        raw["on_error"] = {
            "fallback": draw(st.integers(low, high)),
            "failures": draw(st.integers(1, 4)),
        }
    return PolicySpec.model_validate(raw)


@st.composite
def replica_values(draw: st.DrawFn, count: int) -> tuple[ReplicaValue, ...]:
    out = []
    for i in range(count):
        started = draw(st.sampled_from([OLD, NOW - timedelta(seconds=20), None]))
        ready = draw(st.booleans())
        out.append(
            ReplicaValue(
                replica=f"r{i}",
                value=draw(per_replica_values),
                ready=ready,
                started_at=started,
                ready_since=started if ready else None,
                sampled_at=NOW - timedelta(seconds=draw(st.integers(0, 30))),
                window=draw(st.sampled_from([None, 1.0, 15.0])),
            )
        )
    return tuple(out)


@st.composite
def readings_for(draw: st.DrawFn, spec: PolicySpec, current: int) -> dict[str, Reading]:
    out = {}
    for metric in spec.read_metrics:
        kind = draw(st.sampled_from(["ok", "ok", "ok", "failed", "missing"]))
        if kind == "missing":
            continue
        if kind == "failed":
            out[metric.name] = Reading.failed(metric.name, "down")
        elif metric.per_replica:
            out[metric.name] = Reading(metric.name, replicas=draw(replica_values(current)))
        else:
            out[metric.name] = Reading(metric.name, value=draw(loads))
    return out


@st.composite
def histories(draw: st.DrawFn) -> History:
    recommendations = [
        (NOW - timedelta(seconds=draw(st.integers(1, 600))), draw(st.integers(0, 40)))
        for _ in range(draw(st.integers(0, 6)))
    ]
    scalings = []
    for _ in range(draw(st.integers(0, 4))):
        before = draw(st.integers(0, 40))
        scalings.append(
            (NOW - timedelta(seconds=draw(st.integers(1, 120))), before, draw(st.integers(0, 40)))
        )
    return History(
        recommendations=recommendations,
        scalings=scalings,
        failures=draw(st.integers(0, 5)),
        streaks={"step": draw(st.integers(-3, 3))},
        started=draw(st.booleans()),
    )


def run(
    spec: PolicySpec,
    current: int,
    readings: dict[str, Reading],
    history: History,
    now: datetime = NOW,
) -> Evaluation:
    return evaluate(spec, current=current, readings=readings, history=history, now=now)


# -- bounds ------------------------------------------------------------------------------


@PROPERTY
@given(data=st.data(), spec=policies(), current=st.integers(0, 40), history=histories())
def test_bounds_always_hold(
    data: st.DataObject, spec: PolicySpec, current: int, history: History
) -> None:
    got = run(spec, current, data.draw(readings_for(spec, current)), history)
    assert spec.min <= got.desired <= spec.max
    assert got.reasons
    assert got.current == current


# -- tolerance ---------------------------------------------------------------------------


@PROPERTY
@given(
    data=st.data(),
    spec=policies(names=["queue"]),
    history=histories(),
    position=st.floats(0.000001, 0.999999),
)
def test_no_action_inside_tolerance_service_wide(
    data: st.DataObject, spec: PolicySpec, history: History, position: float
) -> None:
    current = data.draw(st.integers(max(spec.min, 1), spec.max))
    up, down = spec.tolerances()
    ratio = (1 - down) + position * (up + down)
    metric = spec.metrics[0]
    assert isinstance(metric, TargetMetric)
    reading = Reading("queue", value=ratio * metric.target * current)
    got = run(spec, current, {"queue": reading}, history)
    assert got.desired == current


@PROPERTY
@given(data=st.data(), spec=policies(names=["conns"]), history=histories())
def test_no_action_inside_tolerance_per_replica(
    data: st.DataObject, spec: PolicySpec, history: History
) -> None:
    current = data.draw(st.integers(max(spec.min, 1), spec.max))
    up, down = spec.tolerances()
    metric = spec.metrics[0]
    assert isinstance(metric, TargetMetric)
    # values spread around the target, their average inside the band
    spread = data.draw(st.lists(st.floats(-0.5, 0.5), min_size=current, max_size=current))
    mean = sum(spread) / current
    ratio = (1 - down) + data.draw(st.floats(0.000001, 0.999999)) * (up + down)
    values = [metric.target * (ratio + s - mean) for s in spread]
    assume(all(v >= 0 for v in values))
    reading = Reading(
        "conns",
        replicas=tuple(
            ReplicaValue(f"r{i}", v, True, OLD, OLD, NOW, 1.0) for i, v in enumerate(values)
        ),
    )
    assert run(spec, current, {"conns": reading}, history).desired == current


# -- monotonic in the metric -------------------------------------------------------------


@PROPERTY
@given(data=st.data(), spec=policies(), history=histories(), factor=st.floats(1, 20))
def test_more_load_never_recommends_fewer_replicas(
    data: st.DataObject, spec: PolicySpec, history: History, factor: float
) -> None:
    current = data.draw(st.integers(0, 25))
    readings = data.draw(readings_for(spec, current))
    name = data.draw(st.sampled_from([m.name for m in spec.read_metrics]))
    reading = readings.get(name)
    assume(reading is not None and reading.error is None)
    assert reading is not None
    if reading.value is not None:
        more = Reading(name, value=reading.value * factor)
    else:
        assert reading.replicas is not None
        more = Reading(
            name,
            replicas=tuple(
                ReplicaValue(
                    r.replica,
                    None if r.value is None else r.value * factor,
                    r.ready,
                    r.started_at,
                    r.ready_since,
                    r.sampled_at,
                    r.window,
                )
                for r in reading.replicas
            ),
        )
    less = run(spec, current, readings, history)
    heavier = run(spec, current, {**readings, name: more}, history)
    assert heavier.recommendation >= less.recommendation
    assert heavier.desired >= less.desired


# -- no flapping -------------------------------------------------------------------------


def loop(
    spec: PolicySpec,
    current: int,
    loads_per_step: list[float],
    *,
    per_replica_metric: bool,
    history: History | None = None,
) -> list[int]:
    """Evaluate every 15 s; the load splits over the replicas; apply each change."""
    history = History() if history is None else history
    counts = []
    for step, load in enumerate(loads_per_step):
        now = NOW + timedelta(seconds=INTERVAL * step)
        if per_replica_metric:
            share = load / current if current else 0.0
            reading = Reading(
                "conns",
                replicas=tuple(
                    ReplicaValue(f"r{i}", share, True, OLD, OLD, now, 1.0) for i in range(current)
                ),
            )
            if current == 0:
                reading = Reading("conns", value=load)
        else:
            reading = Reading("queue", value=load)
        got = run(spec, current, {reading.name: reading}, history, now)
        history = got.history.scaled(now, current, got.desired)
        current = got.desired
        counts.append(current)
    return counts


@PROPERTY
@given(data=st.data(), spec=policies(names=["queue"]), steps=st.integers(5, 40))
def test_a_metric_oscillating_inside_tolerance_never_moves_the_count(
    data: st.DataObject, spec: PolicySpec, steps: int
) -> None:
    current = data.draw(st.integers(max(spec.min, 1), spec.max))
    up, down = spec.tolerances()
    metric = spec.metrics[0]
    assert isinstance(metric, TargetMetric)
    positions = data.draw(st.lists(st.floats(0.000001, 0.999999), min_size=steps, max_size=steps))
    series = [((1 - down) + p * (up + down)) * metric.target * current for p in positions]
    assert loop(spec, current, series, per_replica_metric=False) == [current] * steps


@PROPERTY
@given(
    data=st.data(),
    low_load=st.floats(0, 400),
    high_load=st.floats(400, 3000),
    period=st.integers(2, 8),
    per_replica_metric=st.booleans(),
)
def test_any_oscillation_with_a_long_enough_down_window_never_flaps(
    data: st.DataObject, low_load: float, high_load: float, period: int, per_replica_metric: bool
) -> None:
    """With a down window longer than the oscillation, the count only ever moves one way."""
    window = (period + 1) * INTERVAL
    name = "conns" if per_replica_metric else "queue"
    raw = {
        "name": "p",
        "service": "web",
        "min": 0,
        "max": 200,
        "metrics": [METRICS[name]],
        "behavior": {"down": {"stabilization": f"{window}s"}, "up": {"rules": data.draw(rules)}},
    }
    spec = PolicySpec.model_validate(raw)
    start = data.draw(st.integers(1, 200))
    series = [high_load if (step // period) % 2 == 0 else low_load for step in range(12 * period)]
    if data.draw(st.booleans()):
        series = series[period:]  # start on the low half
    counts = loop(spec, start, series, per_replica_metric=per_replica_metric)
    moves = [b - a for a, b in zip([start, *counts], counts, strict=False) if b != a]
    assert all(m > 0 for m in moves) or all(m < 0 for m in moves), counts


# -- HPA's missing and not-ready rules ---------------------------------------------------


@st.composite
def grouped_case(draw: st.DrawFn) -> tuple[TargetMetric, list[ReplicaValue], float]:
    metric = TargetMetric(
        name="cpu", source="engine", metric="cpu", target=draw(st.sampled_from([50, 60, 150]))
    )
    count = draw(st.integers(1, 12))
    replicas = []
    for i in range(count):
        kind = draw(st.sampled_from(["counted", "counted", "missing", "unready", "starting"]))
        value = None if kind == "missing" else draw(st.floats(0, 400))
        started = NOW - timedelta(seconds=30) if kind == "starting" else OLD
        replicas.append(
            ReplicaValue(f"r{i}", value, kind != "unready", started, started, NOW, 60.0)
        )
    return metric, replicas, draw(st.floats(0, 0.3))


@PROPERTY
@given(case=grouped_case())
def test_missing_and_not_ready_never_reverse_the_direction(
    case: tuple[TargetMetric, list[ReplicaValue], float],
) -> None:
    """If the samples that count say up, the answer is not below the current count, and
    the other way round; a hold is the most that missing or starting replicas do."""
    metric, replicas, tol = case
    current = len(replicas)
    groups = group(metric, tuple(replicas), now=NOW, cpu_initialization=120, stale_after=3600)
    assume(groups.counted)
    proposal = per_replica(metric, groups, current=current, tolerances=Tolerances(tol, tol))
    assert proposal.candidate is not None
    ratio = sum(groups.counted) / len(groups.counted) / metric.target
    if ratio > 1:
        assert proposal.candidate >= current
    elif ratio < 1:
        assert proposal.candidate <= current
    else:
        assert proposal.candidate == current


@PROPERTY
@given(case=grouped_case(), noise=st.floats(0, 1000))
def test_a_set_aside_cpu_sample_never_matters(
    case: tuple[TargetMetric, list[ReplicaValue], float], noise: float
) -> None:
    """Start-up spikes and not-ready replicas are not load: their values change nothing."""
    metric, replicas, tol = case
    aside = group(metric, tuple(replicas), now=NOW, cpu_initialization=120, stale_after=3600)
    names = {name for name, _ in aside.set_aside}
    assume(names)
    changed = [
        ReplicaValue(r.replica, noise, r.ready, r.started_at, r.ready_since, r.sampled_at, r.window)
        if r.replica in names
        else r
        for r in replicas
    ]
    again = group(metric, tuple(changed), now=NOW, cpu_initialization=120, stale_after=3600)
    tolerances = Tolerances(tol, tol)
    current = len(replicas)
    first = per_replica(metric, aside, current=current, tolerances=tolerances)
    second = per_replica(metric, again, current=current, tolerances=tolerances)
    assert first.candidate == second.candidate


@PROPERTY
@given(
    target=st.sampled_from([50, 60, 150]),
    shares=st.lists(st.floats(0, 0.999), min_size=1, max_size=8),
    missing=st.integers(1, 6),
    tol=st.floats(0, 0.3),
)
def test_missing_samples_hold_a_scale_down_back(
    target: int, shares: list[float], missing: int, tol: float
) -> None:
    """On a scale-down, replicas without a sample keep more replicas, never fewer: at
    least what the counted samples alone ask for."""
    metric = TargetMetric(name="cpu", source="engine", metric="cpu", target=target)
    tolerances = Tolerances(tol, tol)
    values = [share * target * (1 - tol) for share in shares]  # each says: scale down
    counted = [ReplicaValue(f"r{i}", v, True, OLD, OLD, NOW, 1.0) for i, v in enumerate(values)]
    gone = [ReplicaValue(f"m{i}", None, True, OLD, OLD, NOW, 1.0) for i in range(missing)]

    def candidate(replicas: list[ReplicaValue]) -> int | None:
        groups = group(metric, tuple(replicas), now=NOW, cpu_initialization=120, stale_after=3600)
        return per_replica(metric, groups, current=len(replicas), tolerances=tolerances).candidate

    with_missing = candidate(counted + gone)
    without = candidate(counted)
    assert with_missing is not None
    assert without is not None
    assert with_missing >= without


# -- rate rules --------------------------------------------------------------------------


def proposals(
    rule_set: list[dict[str, Any]], timeline: list[tuple[datetime, int]], now: datetime, *, up: bool
) -> list[int]:
    """What each rule allows, computed from the count as it was a period ago."""
    out = []
    for rule in rule_set:
        period = {"15s": 15, "30s": 30, "45s": 45, "1m": 60}[rule["period"]]
        then = now - timedelta(seconds=period)
        start = [count for when, count in timeline if when <= then][-1]
        if "replicas" in rule:
            out.append(start + rule["replicas"] if up else start - rule["replicas"])
        elif up:
            out.append(max(start + 1, math.ceil(start * (1 + rule["percent"] / 100))))
        else:
            out.append(math.floor(start * (1 - rule["percent"] / 100)))
    return out


@PROPERTY
@given(
    data=st.data(),
    series=st.lists(loads, min_size=5, max_size=30),
    gaps=st.lists(st.integers(1, 40), min_size=30, max_size=30),
)
def test_rate_rules_are_never_exceeded(
    data: st.DataObject, series: list[float], gaps: list[int]
) -> None:
    spec = data.draw(policies(names=["queue"]))
    current = data.draw(st.integers(spec.min, spec.max))
    timeline = [(NOW - timedelta(days=1), current)]
    history = History(started=True)
    now = NOW
    up, down = spec.behavior.up, spec.behavior.down
    up_rules = [r.model_dump(exclude_none=True) for r in up.rules]
    down_rules = [r.model_dump(exclude_none=True) for r in down.rules]
    for load, gap in zip(series, gaps, strict=False):
        now += timedelta(seconds=gap)
        got = run(spec, current, {"queue": Reading("queue", value=load)}, history, now)
        new = got.desired
        if new > current:
            allowed = proposals(_periods(up_rules), timeline, now, up=True)
            bound = max(allowed) if up.select == "max" else min(allowed)
            assert new <= max(bound, current), (current, new, allowed)
        elif new < current:
            allowed = proposals(_periods(down_rules), timeline, now, up=False)
            bound = min(allowed) if down.select == "max" else max(allowed)
            assert new >= min(bound, current), (current, new, allowed)
        history = got.history.scaled(now, current, new)
        if new != current:
            timeline.append((now, new))
        current = new


def _periods(rule_set: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = {15.0: "15s", 30.0: "30s", 45.0: "45s", 60.0: "1m"}
    return [{**r, "period": names[r["period"]]} for r in rule_set]


# -- failed metrics ----------------------------------------------------------------------


@PROPERTY
@given(
    data=st.data(), spec=policies(fallback=False), current=st.integers(0, 30), history=histories()
)
def test_a_failed_metric_never_lowers_the_count(
    data: st.DataObject, spec: PolicySpec, current: int, history: History
) -> None:
    readings = data.draw(readings_for(spec, current))
    broken = data.draw(st.sampled_from([m.name for m in spec.read_metrics]))
    readings[broken] = Reading.failed(broken, "unreachable")
    got = run(spec, current, readings, history)
    assert got.desired >= min(current, spec.max)
    assert broken in got.failed


@PROPERTY
@given(
    data=st.data(), spec=policies(fallback=True), current=st.integers(0, 30), history=histories()
)
def test_before_its_fallback_a_failed_metric_never_lowers_the_count(
    data: st.DataObject, spec: PolicySpec, current: int, history: History
) -> None:
    assume(spec.on_error.failures > 1)
    history.failures = 0
    readings = {m.name: Reading.failed(m.name, "down") for m in spec.read_metrics}
    got = run(spec, current, readings, history)
    assert got.desired >= min(current, spec.max)
    assert "fallback" not in got.limited_by


# -- schedules ---------------------------------------------------------------------------

CRONS = ["0 8 * * 1-5", "30 2 * * *", "*/20 * * * *", "0 0 1 * *", "@hourly"]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]


@PROPERTY
@given(
    data=st.data(),
    cron=st.sampled_from(CRONS),
    zone_name=st.sampled_from(ZONES),
    minutes=st.integers(0, 2 * 366 * 24 * 60),
    duration=st.sampled_from(["10m", "1h", "10h", "36h"]),
    replicas=st.integers(0, 40),
    history=histories(),
)
def test_schedules_raise_the_floor_exactly_inside_their_window(
    data: st.DataObject,
    cron: str,
    zone_name: str,
    minutes: int,
    duration: str,
    replicas: int,
    history: History,
) -> None:
    base = data.draw(policies(names=["queue"]))
    raw = base.as_json()
    raw["metrics"].append(
        {
            "name": "plan",
            "type": "schedule",
            "cron": cron,
            "duration": duration,
            "replicas": replicas,
            "timezone": zone_name,
        }
    )
    spec = PolicySpec.model_validate(raw)
    now = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    current = data.draw(st.integers(0, 60))
    readings = {"queue": Reading("queue", value=data.draw(loads))}
    schedule = spec.metrics[-1]
    assert isinstance(schedule, ScheduleMetric)
    is_open = open_window(schedule.parsed, ZoneInfo(zone_name), schedule.duration, now) is not None
    with_plan = run(spec, current, readings, history, now)
    without = run(base, current, readings, history, now)
    if is_open:
        assert with_plan.desired >= min(replicas, spec.max)
        assert with_plan.desired >= without.desired
    else:
        assert with_plan.desired == without.desired
        assert with_plan.metrics[-1].candidate is None
