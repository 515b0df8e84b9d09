"""The one place the policy side imports the pure rules from (``domain/policies``):
the spec of a policy, what a metric source hands over, and the evaluation."""

from __future__ import annotations

from typing import Any

from scalehook.policies.standin_rules import (
    Evaluation,
    History,
    MetricOutcome,
    PolicySpec,
    Reading,
    ReplicaValue,
    Sample,
    evaluate,
    simulate,
)

__all__ = [
    "Evaluation",
    "History",
    "MetricOutcome",
    "PolicySpec",
    "Reading",
    "ReplicaValue",
    "Sample",
    "down_stabilization",
    "evaluate",
    "longest_period",
    "simulate",
    "sources_of",
]


def down_stabilization(spec: PolicySpec) -> float:
    """Seconds of the policy's scale-down stabilization window."""
    return float(spec.behavior.down.stabilization)


def longest_period(spec: PolicySpec) -> float:
    """Seconds back the policy's rate rules look (what a restart must remember)."""
    periods = [rule.period for d in (spec.behavior.up, spec.behavior.down) for rule in d.rules]
    return float(max(periods, default=0.0))


def sources_of(spec: PolicySpec) -> list[tuple[int, Any]]:
    """The metrics a source reads (target and threshold ones), with their index."""
    return [(i, m) for i, m in enumerate(spec.metrics) if getattr(m, "source", None)]
