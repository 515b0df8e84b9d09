# ruff: noqa: PLR0915
"""THROWAWAY stand-in of the pure rules (branch policy-rules writes the real ones in
``domain/policies/``): just enough of the contract to build and test the loop, the API
and the sources against. Deleted at the merge of policy-rules; nothing imports it but
``policies/rules.py``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from scalehook.domain.durations import Duration


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    percent: float | None = None
    replicas: int | None = None
    period: Duration = 15.0


class Direction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stabilization: Duration = 0.0
    rules: list[Rule] = Field(default_factory=list)
    select: Literal["max", "min", "disabled"] = "max"


class Behavior(BaseModel):
    model_config = ConfigDict(extra="forbid")
    up: Direction = Field(default_factory=lambda: Direction(stabilization=0.0))
    down: Direction = Field(default_factory=lambda: Direction(stabilization=300.0))


class TargetMetric(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["target"] = "target"
    name: str
    source: Literal["engine", "prometheus", "balancer"]
    metric: Literal["cpu", "memory", "connections", "rate"] | None = None
    query: str | None = None
    url: str | None = None
    target: float = Field(gt=0)


class ScheduleMetric(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["schedule"]
    name: str
    cron: str
    duration: Duration
    replicas: int = Field(ge=0)
    timezone: str = "UTC"


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("type", "target"))
    return str(getattr(value, "type", "target"))


MetricSpec = Annotated[
    Annotated[TargetMetric, Tag("target")] | Annotated[ScheduleMetric, Tag("schedule")],
    Discriminator(_kind),
]


class Fallback(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fallback: int = Field(ge=0)
    failures: int = Field(default=3, ge=1)


class PolicySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$")
    service: str = Field(min_length=1, max_length=200)
    min: int = Field(ge=0)
    max: int = Field(ge=0)
    interval: Duration = 15.0
    metrics: list[MetricSpec] = Field(min_length=1)
    behavior: Behavior = Field(default_factory=Behavior)
    tolerance: float = 0.1
    cpu_initialization: Duration = 300.0
    on_error: Literal["hold"] | Fallback = "hold"
    dry_run: bool = False
    paused: bool = False

    @model_validator(mode="after")
    def _bounds(self) -> PolicySpec:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not be greater than max ({self.max})")
        return self


@dataclass(frozen=True)
class ReplicaValue:
    replica: str
    value: float | None
    ready: bool
    started_at: datetime | None = None
    ready_since: datetime | None = None
    sampled_at: datetime | None = None
    window: float | None = None


@dataclass(frozen=True)
class Reading:
    name: str
    replicas: tuple[ReplicaValue, ...] | None = None
    value: float | None = None
    error: str | None = None


@dataclass
class History:
    recommendations: list[tuple[datetime, int]] = field(default_factory=list)
    scalings: list[tuple[datetime, int, int]] = field(default_factory=list)
    failures: int = 0
    streaks: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricOutcome:
    name: str
    value: float | None
    candidate: int | None
    reason: str
    error: str | None = None


@dataclass(frozen=True)
class Evaluation:
    current: int
    recommendation: int
    desired: int
    metrics: tuple[MetricOutcome, ...]
    winner: str | None
    limited_by: tuple[str, ...]
    reasons: tuple[str, ...]
    history: History


@dataclass(frozen=True)
class Sample:
    value: float | None
    ready: bool = True
    age: float = 3600.0


def evaluate(
    spec: PolicySpec,
    *,
    current: int,
    readings: Mapping[str, Reading],
    history: History,
    now: datetime,
    rollout_in_progress: bool = False,
) -> Evaluation:
    outcomes: list[MetricOutcome] = []
    failed = False
    for metric in spec.metrics:
        if isinstance(metric, ScheduleMetric):
            outcomes.append(MetricOutcome(metric.name, None, None, "schedule: not in stand-in"))
            continue
        reading = readings.get(metric.name)
        if reading is None or reading.error is not None:
            failed = True
            error = "no reading" if reading is None else reading.error
            outcomes.append(MetricOutcome(metric.name, None, None, "error", error))
            continue
        if reading.replicas is not None:
            values = [r.value for r in reading.replicas if r.ready and r.value is not None]
            if not values:
                failed = True
                outcomes.append(MetricOutcome(metric.name, None, None, "error", "no samples"))
                continue
            average = sum(values) / len(values)
            ratio = average / metric.target
            candidate = (
                current if abs(1 - ratio) <= spec.tolerance else math.ceil(ratio * len(values))
            )
            outcomes.append(
                MetricOutcome(metric.name, average, candidate, f"{average:g} vs {metric.target:g}")
            )
        else:
            value = reading.value
            if value is None:
                failed = True
                outcomes.append(MetricOutcome(metric.name, None, None, "error", "no value"))
                continue
            candidate = math.ceil(value / metric.target)
            outcomes.append(
                MetricOutcome(metric.name, value, candidate, f"{value:g}/{metric.target:g}")
            )
    candidates = [o for o in outcomes if o.candidate is not None]
    limited: list[str] = []
    if not candidates or (failed and max(o.candidate or 0 for o in candidates) < current):
        recommendation, winner = current, None
        limited.append("error")
    else:
        best = max(candidates, key=lambda o: o.candidate or 0)
        recommendation, winner = best.candidate or 0, best.name
    bounded = min(max(recommendation, spec.min), spec.max)
    if bounded != recommendation:
        limited.append("min/max")
    recs = [*history.recommendations, (now, bounded)]
    window = now - timedelta(seconds=spec.behavior.down.stabilization)
    recs = [(t, r) for t, r in recs if t >= window]
    desired = bounded
    if bounded < current:
        highest = max(r for _, r in recs)
        if highest > bounded:
            desired = min(current, highest)
            limited.append("stabilization")
    if rollout_in_progress and desired != current:
        desired = current
        limited.append("rollout in progress")
    scalings = list(history.scalings)
    if desired != current:
        scalings.append((now, current, desired))
    new = History(recs, scalings, history.failures + 1 if failed else 0, dict(history.streaks))
    return Evaluation(
        current, recommendation, desired, tuple(outcomes), winner, tuple(limited),
        tuple(f"{o.name}: {o.reason}" for o in outcomes), new,
    )  # fmt: skip


def simulate(
    spec: PolicySpec, *, current: int, samples: Mapping[str, list[Sample]], now: datetime
) -> Evaluation:
    readings: dict[str, Reading] = {}
    for metric in spec.metrics:
        if isinstance(metric, ScheduleMetric):
            continue
        given = samples.get(metric.name, [])
        if metric.source == "prometheus":
            readings[metric.name] = Reading(metric.name, value=given[0].value if given else None)
        else:
            readings[metric.name] = Reading(
                metric.name,
                replicas=tuple(
                    ReplicaValue(f"r{i}", s.value, s.ready) for i, s in enumerate(given)
                ),
            )
    return replace(evaluate(spec, current=current, readings=readings, history=History(), now=now))
