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
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scalehook.domain.policy_records import PolicyRecord
from scalehook.policies.rules import Evaluation, History, PolicySpec
from scalehook.policies.sources import Target

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
    message: str
    evaluation: Evaluation | None = None
    execution_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "at": self.at.isoformat(),
            "action": self.action,
            "message": self.message,
            "execution_id": self.execution_id,
        }
        if self.evaluation is not None:
            record.update(evaluation_json(self.evaluation))
        return record


def evaluation_json(evaluation: Evaluation) -> dict[str, Any]:
    """An evaluation as the API and the execution's details show it."""
    return evaluation.details()


@dataclass(eq=False)
class PolicyState:
    record: PolicyRecord
    spec: PolicySpec
    first_seen: datetime  # idle counts from here when no connection was ever seen
    history: History = field(default_factory=History)
    evaluations: deque[EvaluationRecord] = field(default_factory=lambda: deque(maxlen=KEPT))
    target: Target | None = None  # the service, once resolved
    due: float = 0.0  # the clock's monotonic time of the next evaluation
    busy: bool = False  # an evaluation (and its action) is under way
    dry_run_at: int | None = None  # the count the last dry-run record would have set
    held_at: int | None = None  # the count the last "held" record would have set
    metric_names: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.record.name

    def keep(self, record: EvaluationRecord) -> None:
        self.evaluations.append(record)
