"""A policy as the API takes it: defaults, forms, and refusals that name the field."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalehook.domain.policies import PolicySpec, parse_policy
from scalehook.domain.policies.spec import (
    ScheduleMetric,
    Step,
    TargetMetric,
    ThresholdMetric,
    field_path,
    parse_quantity,
)
from scalehook.errors import InvalidRequest

ISSUE_EXAMPLE: dict[str, Any] = {
    "name": "web-cpu",
    "service": "web",
    "min": 1,
    "max": 10,
    "interval": "5s",
    "metrics": [
        {"name": "cpu", "source": "engine", "metric": "cpu", "target": 60},
        {
            "name": "queue",
            "source": "prometheus",
            "query": 'sum(jobs_waiting{app="web"})',
            "target": 100,
        },
        {"name": "conns", "source": "balancer", "metric": "connections", "target": 20},
    ],
    "behavior": {
        "up": {
            "stabilization": "0s",
            "rules": [{"percent": 100, "period": "15s"}, {"replicas": 4, "period": "15s"}],
            "select": "max",
        },
        "down": {
            "stabilization": "300s",
            "rules": [{"percent": 100, "period": "15s"}],
            "select": "max",
        },
    },
    "on_error": "hold",
    "dry_run": False,
    "paused": False,
}


def body(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(ISSUE_EXAMPLE)
    out.update(changes)
    return out


def refused(raw: dict[str, Any]) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        parse_policy(raw)
    assert caught.value.status == 422
    return caught.value


def test_the_issues_example() -> None:
    spec = parse_policy(ISSUE_EXAMPLE)
    assert spec.interval == 5
    assert [type(m) for m in spec.metrics] == [TargetMetric, TargetMetric, TargetMetric]
    assert spec.behavior.down.stabilization == 300
    assert spec.tolerances() == (0.1, 0.1)
    assert spec.on_error.fallback is None


def test_defaults_are_hpas() -> None:
    spec = parse_policy(
        {
            "name": "p",
            "service": "web",
            "min": 1,
            "max": 3,
            "metrics": [{"name": "cpu", "source": "engine", "metric": "cpu", "target": 60}],
        }
    )
    assert spec.interval == 15
    assert spec.cpu_initialization == 300
    up, down = spec.behavior.up, spec.behavior.down
    assert (up.stabilization, up.select) == (0, "max")
    assert [(r.percent, r.replicas, r.period) for r in up.rules] == [(100, None, 15), (None, 4, 15)]
    assert (down.stabilization, down.select) == (300, "max")
    assert [(r.percent, r.replicas, r.period) for r in down.rules] == [(100, None, 15)]
    assert spec.tolerances() == (0.1, 0.1)


def test_a_direction_given_in_part_keeps_its_other_defaults() -> None:
    spec = parse_policy(body(behavior={"down": {"stabilization": "1m"}}))
    assert spec.behavior.down.stabilization == 60
    assert spec.behavior.down.rules[0].percent == 100
    assert len(spec.behavior.up.rules) == 2


def test_tolerance_forms() -> None:
    assert parse_policy(body(tolerance=0.2)).tolerances() == (0.2, 0.2)
    assert parse_policy(body(tolerance={"up": 0.05, "down": 0.3})).tolerances() == (0.05, 0.3)
    spec = parse_policy(body(tolerance=0.2, behavior={"up": {"tolerance": 0.01}}))
    assert spec.tolerances() == (0.01, 0.2)


def test_round_trip_in_the_written_form() -> None:
    raw = body(
        tolerance=0.2,
        on_error={"fallback": 2},
        metrics=[
            {"name": "mem", "source": "engine", "metric": "memory", "target": "256Mi"},
            {
                "name": "t",
                "type": "threshold",
                "source": "engine",
                "metric": "cpu",
                "upper": 80,
                "lower": 20,
                "up": {"factor": 2},
                "down": {"factor": 0.5},
                "for": 3,
            },
            {
                "name": "biz",
                "type": "schedule",
                "cron": "0 8 * * 1-5",
                "duration": "10h",
                "replicas": 4,
                "timezone": "Europe/Berlin",
            },
        ],
    )
    spec = parse_policy(raw)
    written = spec.as_json()
    assert written["tolerance"] == 0.2
    assert written["on_error"] == {"fallback": 2, "failures": 3}
    assert written["metrics"][0]["target"] == 256 * 2**20
    assert written["metrics"][1]["for"] == 3
    assert "query" not in written["metrics"][0]
    assert parse_policy(written) == spec
    assert parse_policy(body()).as_json()["on_error"] == "hold"


def test_metric_kinds() -> None:
    spec = parse_policy(
        body(
            metrics=[
                {
                    "name": "a",
                    "source": "engine",
                    "metric": "memory",
                    "unit": "percent",
                    "target": 80,
                },
                {
                    "name": "b",
                    "type": "threshold",
                    "source": "prometheus",
                    "query": "up",
                    "upper": 10,
                    "up": {"step": 1},
                },
                {
                    "name": "c",
                    "type": "schedule",
                    "cron": "@daily",
                    "duration": "1h",
                    "replicas": 2,
                },
            ]
        )
    )
    a, b, c = spec.metrics
    assert isinstance(a, TargetMetric)
    assert a.percent
    assert isinstance(b, ThresholdMetric)
    assert b.lower is None
    assert isinstance(c, ScheduleMetric)
    assert c.timezone == "UTC"
    assert spec.can_wake


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"min": 5, "max": 3}, "min", "min 5 is more than max 3"),
        ({"max": 0}, "max", "greater than or equal to 1"),
        ({"min": -1}, "min", "greater than or equal to 0"),
        ({"name": "1st"}, "name", "starts with a letter"),
        ({"service": "my web"}, "service", "no spaces"),
        ({"interval": "5 parsecs"}, "interval", "not a unit of duration"),
        ({"interval": "0.5s"}, "interval", "greater than or equal to 1"),
        ({"cpu_initialization": "-1s"}, "cpu_initialization", "cannot be negative"),
        ({"metrics": []}, "metrics", "at least 1"),
        ({"tolerance": -0.1}, "tolerance.up", "greater than or equal to 0"),
        ({"tolerance": {"up": 0.1, "down": 2}}, "tolerance.down", "less than or equal to 1"),
        ({"on_error": "panic"}, "on_error", "'hold' or"),
        ({"on_error": {"failures": 3}}, "on_error.fallback", "names its count"),
        ({"on_error": {"fallback": 20}}, "on_error.fallback", "outside min..max (1..10)"),
        ({"on_error": {"fallback": 2, "failures": 0}}, "on_error.failures", "greater than"),
        ({"colour": "red"}, "colour", "is not a field here"),
        (
            {"behavior": {"down": {"stabilization": "2h"}}},
            "behavior.down.stabilization",
            "less than or equal to 3600",
        ),
        (
            {"behavior": {"up": {"rules": [{"percent": 10, "replicas": 2, "period": "15s"}]}}},
            "behavior.up.rules[0]",
            "percent or replicas",
        ),
        (
            {"behavior": {"up": {"rules": [{"percent": 10}]}}},
            "behavior.up.rules[0].period",
            "is required",
        ),
        (
            {"behavior": {"up": {"rules": [{"percent": 10, "period": "1x"}]}}},
            "behavior.up.rules[0].period",
            "not a unit",
        ),
        ({"behavior": {"up": {"rules": []}}}, "behavior.up.rules", "at least 1"),
        ({"behavior": {"down": {"select": "most"}}}, "behavior.down.select", "'max', 'min'"),
        ({"behavior": {"down": {"tolerance": 1.5}}}, "behavior.down.tolerance", "at most 1"),
    ],
)
def test_refusals_name_the_field(change: dict[str, Any], field: str, words: str) -> None:
    error = refused(body(**change))
    assert error.field == field
    assert words in error.message
    assert error.message.startswith(f"{field}: ")


CPU = {"name": "cpu", "source": "engine", "metric": "cpu", "target": 60}


@pytest.mark.parametrize(
    ("metric", "field", "words"),
    [
        ({"name": "q", "source": "prometheus", "target": 5}, "metrics[1].query", "needs a query"),
        (
            {"name": "q", "source": "prometheus", "query": "  ", "target": 5},
            "metrics[1].query",
            "needs a query",
        ),
        (
            {"name": "q", "source": "prometheus", "query": "up", "metric": "cpu", "target": 5},
            "metrics[1].metric",
            "reads its query",
        ),
        (
            {"name": "q", "source": "prometheus", "query": "up", "url": "ftp://x", "target": 5},
            "metrics[1].url",
            "http",
        ),
        (
            {"name": "c", "source": "engine", "metric": "connections", "target": 5},
            "metrics[1].metric",
            "has no connections; it has cpu and memory",
        ),
        (
            {"name": "c", "source": "balancer", "metric": "cpu", "target": 5},
            "metrics[1].metric",
            "has no cpu; it has connections and rate",
        ),
        (
            {"name": "c", "source": "balancer", "target": 5},
            "metrics[1].metric",
            "has connections and rate",
        ),
        (
            {"name": "c", "source": "engine", "metric": "cpu", "query": "up", "target": 5},
            "metrics[1].query",
            "only a prometheus metric has a query",
        ),
        (
            {"name": "c", "source": "engine", "metric": "cpu", "unit": "percent", "target": 5},
            "metrics[1].unit",
            "only a memory metric",
        ),
        (
            {"name": "c", "source": "disk", "metric": "cpu", "target": 5},
            "metrics[1].source",
            "'engine', 'prometheus', 'balancer' or 'capacity'",
        ),
        (
            {"name": "c", "source": "engine", "metric": "cpu", "target": 0},
            "metrics[1].target",
            "greater than 0",
        ),
        (
            {"name": "c", "source": "engine", "metric": "cpu", "target": -5},
            "metrics[1].target",
            "greater than 0",
        ),
        (
            {"name": "c", "source": "engine", "metric": "cpu", "target": float("nan")},
            "metrics[1].target",
            "finite",
        ),
        (
            {"name": "c", "source": "engine", "metric": "cpu", "target": "NaN"},
            "metrics[1].target",
            "not a number",
        ),
        (
            {"name": "c", "source": "engine", "metric": "cpu", "target": "1Gi"},
            "metrics[1].target",
            "only a memory metric in bytes",
        ),
        (
            {"name": "c", "source": "engine", "metric": "memory", "target": "lots"},
            "metrics[1].target",
            "not a number or a size",
        ),
        ({"name": "c", "source": "engine", "metric": "cpu"}, "metrics[1].target", "is required"),
        (
            {"name": "cpu", "source": "engine", "metric": "memory", "target": 5},
            "metrics[1].name",
            "metrics[0] is already named 'cpu'",
        ),
        (
            {"name": "9lives", "source": "engine", "metric": "cpu", "target": 5},
            "metrics[1].name",
            "starts with a letter",
        ),
        (
            {"name": "c", "type": "scaled", "source": "engine"},
            "metrics[1].type",
            "'target' (the default), 'threshold' or 'schedule'",
        ),
        (
            {"name": "c", "source": "engine", "metric": "cpu", "target": 5, "extra": 1},
            "metrics[1].extra",
            "is not a field here",
        ),
    ],
)
def test_metric_refusals_name_the_field(metric: dict[str, Any], field: str, words: str) -> None:
    error = refused(body(metrics=[CPU, metric]))
    assert (error.field, error.message.startswith(field)) == (field, True)
    assert words in error.message


THRESHOLD = {"name": "t", "type": "threshold", "source": "engine", "metric": "cpu"}


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({}, "metrics[0].upper", "needs an upper bound"),
        ({"upper": 80}, "metrics[0].up", "go together"),
        ({"up": {"step": 1}}, "metrics[0].upper", "needs an upper bound"),
        ({"upper": 80, "up": {"step": 1}, "down": {"step": 1}}, "metrics[0].lower", "go together"),
        ({"lower": 20}, "metrics[0].down", "go together"),
        ({"upper": 80, "up": {"factor": 0.5}}, "metrics[0].up.factor", "more than 1"),
        ({"lower": 20, "down": {"factor": 2}}, "metrics[0].down.factor", "between 0 and 1"),
        ({"upper": 80, "up": {}}, "metrics[0].up", "one of factor, step or to"),
        ({"upper": 80, "up": {"factor": 2, "step": 1}}, "metrics[0].up", "one of factor"),
        ({"upper": 80, "up": {"step": 0}}, "metrics[0].up.step", "greater than or equal to 1"),
        (
            {"upper": 20, "lower": 80, "up": {"step": 1}, "down": {"step": 1}},
            "metrics[0].lower",
            "must be below upper",
        ),
        (
            {"upper": 80, "up": {"step": 1}, "for": 0},
            "metrics[0].for",
            "greater than or equal to 1",
        ),
        # the flip rule: factor 2 up halves a value just above 80 to 40
        (
            {"upper": 80, "lower": 45, "up": {"factor": 2}, "down": {"factor": 0.5}},
            "metrics[0].lower",
            "too close to upper 80",
        ),
        # a step of 1 from min 1 to 2 halves it too; judged at the smallest count
        (
            {"upper": 80, "lower": 41, "up": {"step": 1}, "down": {"step": 1}},
            "metrics[0].lower",
            "from 1 to 2 replicas",
        ),
        # to 10 from 1: one tenth
        (
            {"upper": 80, "lower": 9, "up": {"to": 10}, "down": {"step": 1}},
            "metrics[0].lower",
            "to 10 from 1 to 10 replicas",
        ),
    ],
)
def test_threshold_refusals(fields: dict[str, Any], field: str, words: str) -> None:
    error = refused(body(metrics=[{**THRESHOLD, **fields}]))
    assert error.field == field
    assert words in error.message


def test_the_flip_rule_judges_at_min() -> None:
    step = {**THRESHOLD, "upper": 80, "lower": 41, "up": {"step": 1}, "down": {"step": 1}}
    refused(body(min=1, metrics=[step]))
    # From 4 replicas a step of 1 only takes off a fifth: 80 * 4/5 = 64 > 41.
    assert parse_policy(body(min=4, metrics=[step])).min == 4


def test_the_seeds_double_and_halve_is_accepted() -> None:
    spec = parse_policy(
        body(
            metrics=[
                {
                    **THRESHOLD,
                    "upper": 80,
                    "lower": 20,
                    "up": {"factor": 2},
                    "down": {"factor": 0.5},
                }
            ]
        )
    )
    assert isinstance(spec.metrics[0], ThresholdMetric)


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"cron": "0 8 * *"}, "metrics[0].cron", "has 4 fields"),
        ({"cron": "0 25 * * *"}, "metrics[0].cron", "hour 25 is out of range"),
        ({"timezone": "Europe/Atlantis"}, "metrics[0].timezone", "not a known time zone"),
        ({"duration": "0s"}, "metrics[0].duration", "greater than 0"),
        ({"duration": "ten hours"}, "metrics[0].duration", "not a duration"),
        ({"replicas": -1}, "metrics[0].replicas", "greater than or equal to 0"),
        ({"target": 5}, "metrics[0].target", "is not a field here"),
    ],
)
def test_schedule_refusals(fields: dict[str, Any], field: str, words: str) -> None:
    schedule = {
        "name": "biz",
        "type": "schedule",
        "cron": "0 8 * * 1-5",
        "duration": "10h",
        "replicas": 4,
        "timezone": "Europe/Berlin",
    }
    error = refused(body(metrics=[{**schedule, **fields}]))
    assert error.field == field
    assert words in error.message


def test_several_problems_say_so() -> None:
    error = refused(body(min=-1, max=-1))
    assert "(and 1 more problem)" in error.message


def test_field_path() -> None:
    assert field_path(("metrics", 1, "target", "query")) == "metrics[1].query"
    assert field_path(("metrics", 0, "threshold"), "up.factor") == "metrics[0].up.factor"
    assert field_path((), "metrics[2].name") == "metrics[2].name"
    assert field_path(("behavior", "up", "rules", 0, "period")) == "behavior.up.rules[0].period"
    assert field_path(("on_error",), "fallback") == "on_error.fallback"


@pytest.mark.parametrize(
    ("text", "value", "sized"),
    [
        ("256Mi", 256 * 2**20, True),
        ("1Gi", 2**30, True),
        ("512M", 512e6, True),
        ("1.5k", 1500, True),
        ("80", 80, False),
        ("2.5", 2.5, False),
    ],
)
def test_quantities(text: str, value: float, sized: bool) -> None:
    assert parse_quantity(text) == (value, sized)


@given(current=st.integers(0, 10_000), factor=st.floats(1.01, 10), step=st.integers(1, 100))
def test_steps_always_move_and_stay_whole(current: int, factor: float, step: int) -> None:
    assert Step(factor=factor).up(current) > current
    assert Step(step=step).up(current) == current + step
    down = Step(factor=1 / factor).down(current)
    assert 0 <= down <= max(current - 1, 0)
    assert Step(to=5).up(current) == max(current, 5)
    assert Step(to=5).down(current) == min(current, 5)


@given(
    upper=st.floats(1, 1000),
    gap=st.floats(0.05, 0.95),
    up=st.sampled_from([{"factor": 1.5}, {"factor": 2}, {"step": 1}, {"step": 3}, {"to": 8}]),
    down=st.sampled_from([{"factor": 0.5}, {"factor": 0.8}, {"step": 1}, {"step": 2}]),
    low=st.integers(0, 5),
    span=st.integers(1, 30),
)
def test_an_accepted_threshold_never_flips_in_one_step(
    upper: float, gap: float, up: dict[str, float], down: dict[str, float], low: int, span: int
) -> None:
    """Whatever is accepted: a value just past a bound, spread over the new count, is not
    past the other bound; whatever is refused has such a count."""
    lower = upper * gap
    metric = {**THRESHOLD, "upper": upper, "lower": lower, "up": up, "down": down}
    raw = body(min=low, max=low + span, metrics=[metric])
    try:
        spec = PolicySpec.model_validate(raw)
    except Exception:
        flips = True
    else:
        flips = False
        assert isinstance(spec.metrics[0], ThresholdMetric)
    high = low + span
    up_step, down_step = Step(**up), Step(**down)
    found = False
    for n in range(max(low, 1), high + 1):
        m = min(up_step.up(n), high)
        if m > n and upper * n / m <= lower * (1 + 1e-9):
            found = True
        m = max(down_step.down(n), low)
        if 1 <= m < n and lower * n / m >= upper * (1 - 1e-9):
            found = True
    assert found == flips
