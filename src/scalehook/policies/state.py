"""What the policy loop keeps of each policy, in the leader's memory only: the parsed
spec, the history its stabilization and rate rules read, when it is due next, and its
last evaluations (``KEPT`` of them) for ``GET /v1/policies/{name}``.

A restart (or a new leader) forgets the recommendations, the threshold streaks, the
count of failed evaluations in a row (``on_error``'s fallback starts counting again) and
the last evaluations. It rebuilds the rate rules' scale events from the audit trail,
and its first evaluation counts the current count as recommended (the rules' ``History
.started``), so that neither a rate rule nor the down stabilization window is cut
short by a restart.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scalehook.domain.policy_records import PolicyRecord
from scalehook.policies.rules import Evaluation, History, PolicySpec, ReadMetric
from scalehook.policies.sources import MetricSource, Scaled

KEPT = 20
"""Evaluations kept per policy (in memory, on the leader)."""

Action = str
"""What an evaluation led to: ``none`` (the count is right), ``scaled``, ``noop`` (the
count had moved meanwhile), ``dry_run``, ``held`` (a rollout runs), ``woken`` (a
connection at zero), ``failed`` (the engine refused), ``error`` (the service could not
be read)."""


@dataclass(frozen=True, slots=True)
class EvaluationRecord:
    at: datetime
    action: Action
    message: str  # empty: the evaluation's summary (made when shown)
    evaluation: Evaluation | None = None
    execution_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        message = self.message
        if not message and self.evaluation is not None:
            message = summary(self.evaluation)
        record: dict[str, Any] = {
            "at": self.at.isoformat(),
            "action": self.action,
            "message": message,
            "execution_id": self.execution_id,
        }
        if self.evaluation is not None:
            record.update(evaluation_json(self.evaluation))
        return record


def compact(history: History) -> History:
    """``history`` with only the latest recommendation of each count, in time order.

    Stabilization asks one thing of the recommendations: the lowest and the highest
    count recommended after a cutoff (``behavior.stabilize``). A count has an entry after
    the cutoff exactly when its latest entry is after it, so the earlier entries of a
    count never change an answer: dropped, a policy at a steady count keeps one entry
    instead of one per evaluation of its window (300 at 1 s), and each evaluation copies
    and scans that much less."""
    recommendations = history.recommendations
    if len(recommendations) < 2:
        return history
    latest: dict[int, tuple[datetime, int]] = {}
    for entry in recommendations:
        latest[entry[1]] = entry
    if len(latest) == len(recommendations):
        return history
    history.recommendations = sorted(latest.values(), key=lambda entry: entry[0])
    return history


def summary(evaluation: Evaluation) -> str:
    """One line for people: the counts, the winner and the reasons."""
    text = f"{evaluation.current} -> {evaluation.desired}"
    if evaluation.winner:
        text += f" (by {evaluation.winner})"
    if evaluation.reasons:
        text += ": " + "; ".join(evaluation.reasons)
    return text


def evaluation_json(evaluation: Evaluation) -> dict[str, Any]:
    """An evaluation as the API and the execution's details show it."""
    return evaluation.details()


@dataclass
class Series:
    """A policy's series in ``/metrics``: the children of each family, by metric."""

    evaluations: Any
    desired: Any
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class PolicyState:
    record: PolicyRecord
    spec: PolicySpec
    first_seen: datetime  # idle counts from here when no connection was ever seen
    history: History = field(default_factory=History)
    evaluations: deque[EvaluationRecord] = field(default_factory=lambda: deque(maxlen=KEPT))
    target: Scaled | None = None  # the service or host group, once resolved
    due: float = 0.0  # the clock's monotonic time of the next evaluation
    busy: bool = False  # an evaluation (and its action) is under way
    dry_run_at: int | None = None  # the count the last dry-run record would have set
    held_at: int | None = None  # the count the last "held" record would have set
    metric_names: tuple[str, ...] = ()
    # what its evaluations fetch and read, once its service is resolved (loop._plan)
    keys: dict[Hashable, tuple[MetricSource | None, Scaled]] | None = None
    plan: list[tuple[MetricSource, ReadMetric, Hashable]] = field(default_factory=list)
    series: Series | None = None  # its children in /metrics

    @property
    def name(self) -> str:
        return self.record.name

    def keep(self, record: EvaluationRecord) -> None:
        self.evaluations.append(record)
