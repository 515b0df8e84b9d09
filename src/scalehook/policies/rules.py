"""The one place the policy side imports the pure rules from (``domain/policies``):
the spec of a policy, what a metric source hands over, and the evaluation; and the few
questions the loop asks of a spec."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scalehook.domain.policies import (
    Evaluation,
    History,
    MetricOutcome,
    PolicySpec,
    Reading,
    ReplicaValue,
    Sample,
    evaluate,
    parse_policy,
    simulate,
)
from scalehook.domain.policies.spec import ReadMetric, ScheduleMetric
from scalehook.errors import InvalidRequest

__all__ = [
    "Evaluation",
    "History",
    "MetricOutcome",
    "PolicySpec",
    "ReadMetric",
    "Reading",
    "ReplicaValue",
    "Sample",
    "down_stabilization",
    "evaluate",
    "longest_period",
    "parse_spec",
    "simulate",
    "sources_of",
]


def parse_spec(body: Mapping[str, Any] | Any, *, prefix: str = "") -> PolicySpec:
    """The body as a ``PolicySpec``, or ``InvalidRequest`` naming the field at fault
    (``prefix`` goes before it: ``policy.`` in a simulation)."""
    try:
        return parse_policy(body)
    except InvalidRequest as exc:
        if not prefix:
            raise
        field = f"{prefix}{exc.field}" if exc.field else prefix.rstrip(".")
        message = f"{prefix}{exc.message}" if exc.field else f"{field}: {exc.message}"
        raise InvalidRequest(message, field=field) from exc


def down_stabilization(spec: PolicySpec) -> float:
    """Seconds of the policy's scale-down stabilization window."""
    return float(spec.behavior.down.stabilization)


def longest_period(spec: PolicySpec) -> float:
    """Seconds back the policy's rate rules look (what a restart must remember)."""
    return float(max(spec.behavior.up.longest_period, spec.behavior.down.longest_period))


def sources_of(spec: PolicySpec) -> list[tuple[int, ReadMetric]]:
    """The metrics a source reads (target and threshold ones), with their index."""
    return [(i, m) for i, m in enumerate(spec.metrics) if not isinstance(m, ScheduleMetric)]
