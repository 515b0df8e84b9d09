"""What an evaluation reads (readings, its own history) and what it answers (an evaluation).

``evaluate.py`` re-exports these; they live here so that the rule modules (``target``,
``threshold``, ``behavior``) can use them without importing the evaluation itself.

Times are aware datetimes; a naive one is read as UTC (``utc``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from scalehook.domain.durations import Duration


def utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (a naive one is taken to be UTC already)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def usable(value: float | None) -> bool:
    """A number a metric may be computed from: finite and not negative (never None)."""
    return value is not None and math.isfinite(value) and value >= 0


@dataclass(frozen=True, slots=True)
class ReplicaValue:
    """One replica's value of a per-replica metric (engine, balancer), in the metric's unit
    (``spec.py`` names them; the source divides, e.g. CPU by the replica's limit).

    ``value`` None (or NaN, infinite, negative) is a replica without a sample: HPA's
    "missing" pod, never 0. ``window`` is the seconds the sample covers (CPU's rule
    against start-up spikes needs it; None counts as 0)."""

    replica: str
    value: float | None
    ready: bool
    started_at: datetime | None = None
    ready_since: datetime | None = None
    sampled_at: datetime | None = None
    window: float | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    """One metric at one evaluation, as its source read it.

    - ``replicas``: per-replica metrics (engine, balancer): one entry per replica the
      service has (``()`` at 0 replicas).
    - ``value``: a service-wide value (prometheus; also a balancer's wake signal at 0
      replicas: the connections it holds). The target is per replica:
      desired = ceil(value / target), KEDA's AverageValue. When set, it is used even for
      a per-replica metric.
    - ``error``: why it could not be read (failed, empty result, NaN, stale). A reading
      with an error is never read as 0; neither is one with nothing in it.
    """

    name: str
    replicas: tuple[ReplicaValue, ...] | None = None
    value: float | None = None
    error: str | None = None

    @classmethod
    def failed(cls, name: str, error: str) -> Reading:
        return cls(name=name, error=error)


@dataclass
class History:
    """What an evaluation needs from the ones before it; the loop keeps it per policy
    (``Evaluation.history`` is the next one to pass) and may persist it (``to_json``).

    - ``recommendations``: (when, count) before behavior, for stabilization windows.
    - ``scalings``: (when, before, after) of changes made to the service, for rate rules.
      ``evaluate`` never adds to it (it cannot know whether the change was made: dry
      run, an engine error): the loop calls ``scaled`` once the engine did it, and fills
      it from the audit trail at start.
    - ``failures``: evaluations in a row with a metric that failed.
    - ``streaks``: per threshold metric, evaluations in a row past a bound (+n above the
      upper bound, -n below the lower one).
    - ``started``: evaluated before. The first evaluation records the current count as a
      recommendation, so a (re)started scalehook does not scale down before the down
      window has passed (HPA's recordInitialRecommendation).
    """

    recommendations: list[tuple[datetime, int]] = field(default_factory=list)
    scalings: list[tuple[datetime, int, int]] = field(default_factory=list)
    failures: int = 0
    streaks: dict[str, int] = field(default_factory=dict)
    started: bool = False

    def copy(self) -> History:
        return History(
            recommendations=list(self.recommendations),
            scalings=list(self.scalings),
            failures=self.failures,
            streaks=dict(self.streaks),
            started=self.started,
        )

    def scaled(self, when: datetime, before: int, after: int) -> History:
        """A copy that knows the service was scaled from ``before`` to ``after``."""
        if before == after:
            return self.copy()
        return replace(self.copy(), scalings=[*self.scalings, (utc(when), before, after)])

    def to_json(self) -> dict[str, Any]:
        return {
            "recommendations": [[t.isoformat(), n] for t, n in self.recommendations],
            "scalings": [[t.isoformat(), b, a] for t, b, a in self.scalings],
            "failures": self.failures,
            "streaks": dict(self.streaks),
            "started": self.started,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> History:
        return cls(
            recommendations=[
                (utc(datetime.fromisoformat(t)), int(n)) for t, n in data.get("recommendations", [])
            ],
            scalings=[
                (utc(datetime.fromisoformat(t)), int(b), int(a))
                for t, b, a in data.get("scalings", [])
            ],
            failures=int(data.get("failures", 0)),
            streaks={str(k): int(v) for k, v in dict(data.get("streaks", {})).items()},
            started=bool(data.get("started", False)),
        )


@dataclass(frozen=True, slots=True)
class MetricOutcome:
    """One metric's part in an evaluation. ``candidate`` None: it had nothing to say (a
    schedule outside its window, a per-replica metric at 0 replicas) or it failed
    (``error``). ``value`` is what was compared with the target or bounds (per-replica:
    the average of the samples that count, before HPA's fill-ins)."""

    name: str
    value: float | None
    candidate: int | None
    reason: str
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "candidate": self.candidate,
            "reason": self.reason,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The answer: ``desired`` is the count to set (``== current``: do nothing).

    ``recommendation`` is the metrics' count before behavior (stabilization, rate rules,
    min/max); ``winner`` the metric (or schedule) it came from (None: nothing decided it,
    e.g. a hold or a fallback); ``limited_by`` the rules that held or bounded it, as
    short labels; ``reasons`` the same for people, in order; ``history`` what to pass to
    the next evaluation."""

    current: int
    recommendation: int
    desired: int
    metrics: tuple[MetricOutcome, ...]
    winner: str | None
    limited_by: tuple[str, ...]
    reasons: tuple[str, ...]
    history: History

    @property
    def changes(self) -> bool:
        return self.desired != self.current

    @property
    def failed(self) -> tuple[str, ...]:
        """Names of the metrics that could not be read."""
        return tuple(m.name for m in self.metrics if m.error is not None)

    def details(self) -> dict[str, Any]:
        """The execution record's ``details``: each metric's value and candidate, the
        winner, the rules that limited the count, and why."""
        return {
            "current": self.current,
            "recommendation": self.recommendation,
            "desired": self.desired,
            "metrics": [m.to_json() for m in self.metrics],
            "winner": self.winner,
            "limited_by": list(self.limited_by),
            "reasons": list(self.reasons),
        }


class Sample(BaseModel):
    """One simulated sample (``POST /v1/policies/simulate``): one per replica for a
    per-replica metric, one for a service-wide metric. ``age`` is the time since the
    replica started (None: long ago, past any start-up rule)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    value: float | None
    ready: bool = True
    age: Duration | None = None
