"""Autoscaling policies, the pure rules: a policy's spec, and one evaluation of it.

- ``spec``: ``PolicySpec`` as the API takes it, ``parse_policy`` (422 naming the field)
- ``evaluate``: ``evaluate`` (readings + history → the count and why), ``simulate``
- ``target``: HPA's replica calculation (``replica_calculator.go``)
- ``threshold``: step the count past a bound (Nomad's threshold strategy)
- ``behavior``: stabilization windows and rate rules (HPA's ``horizontal.go``)
- ``cron``: cron windows in a time zone, DST-correct
- ``records``: readings, history, the evaluation record

Nothing here reads a clock, a metric or the store: the policy loop does, and passes
``now``, the readings and the history in.
"""

from scalehook.domain.policies.evaluate import evaluate, simulate
from scalehook.domain.policies.records import (
    Evaluation,
    History,
    MetricOutcome,
    Reading,
    ReplicaValue,
    Sample,
)
from scalehook.domain.policies.spec import PolicySpec, parse_policy

__all__ = [
    "Evaluation",
    "History",
    "MetricOutcome",
    "PolicySpec",
    "Reading",
    "ReplicaValue",
    "Sample",
    "evaluate",
    "parse_policy",
    "simulate",
]
