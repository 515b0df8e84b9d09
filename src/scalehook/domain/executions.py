"""The audit trail: one Execution per trigger or action, whatever its outcome.

Most executions are done when recorded. A rollout is recorded at once as ``running``
(result ``upgrading``) and updated as it goes: per-batch progress in ``details``, then
a final result and ``done``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NewType

from scalehook.domain.receivers import ReceiverId

ExecutionId = NewType("ExecutionId", int)

Result = Literal[
    "scaled",
    "clamped",
    "noop",
    "updated",  # a service's CPU or memory limits changed
    "failed",
    "deduped",
    "cooldown",
    "label_mismatch",
    "ignored",
    "dry_run",
    "held",  # a policy would move the count but may not now (a rollout runs on the service)
    "rejected",  # a hook call refused before acting: bad body, bad signature
    "upgrading",  # running: a rollout replacing replicas
    "rolling_back",  # running: a failed rollout restoring the previous image
    "upgraded",
    "rolled_back",
    "paused",
    "superseded",  # a newer push (or an upgrade by hand) for the same service took over
    "cancelled",  # a rollout stopped by hand, each replica left on one version
    "recreated",  # a health check replaced an unhealthy replica
    "unhealthy",  # a health check reports failing replicas it leaves in place
]
Status = Literal["running", "done"]


@dataclass(frozen=True, slots=True)
class ExecutionDraft:
    """What happened, before the store gives it an id."""

    started_at: datetime
    driver: str
    target: str | None
    result: Result
    message: str
    duration_ms: float
    receiver_id: ReceiverId | None = None
    receiver_name: str | None = None
    caller: str | None = None
    before: int | None = None
    after: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    status: Status = "done"
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Execution(ExecutionDraft):
    id: ExecutionId = ExecutionId(0)


def as_dry_run(
    result: Result, message: str, details: Mapping[str, Any], *, would: Any = None
) -> tuple[Result, str, dict[str, Any]]:
    """How a decision taken in dry run is recorded, for every driver: ``dry_run`` with
    what it would have done in ``details.would`` when it would have acted (``would``
    given), as decided otherwise; the message says that nothing changed."""
    recorded = {**details, "dry_run": True}
    if would is not None:
        recorded["would"] = would
        result = "dry_run"
    return result, f"dry run, nothing changed: {message}", recorded


def execution_json(execution: Execution) -> dict[str, Any]:
    """The JSON form of an execution, as ``GET /v1/executions/{id}`` answers it (and a
    webhook notification carries it, times in UTC as ``…Z``); built without a model
    (the trigger's hot path)."""
    return {
        "id": execution.id,
        "started_at": _iso(execution.started_at),
        "receiver_id": execution.receiver_id,
        "receiver_name": execution.receiver_name,
        "driver": execution.driver,
        "target": execution.target,
        "caller": execution.caller,
        "result": execution.result,
        "before": execution.before,
        "after": execution.after,
        "message": execution.message,
        "duration_ms": execution.duration_ms,
        "details": execution.details,
        "status": execution.status,
        "updated_at": None if execution.updated_at is None else _iso(execution.updated_at),
    }


def _iso(when: datetime) -> str:
    """ISO 8601 as the API's models write it: UTC as ``Z``."""
    text = when.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def log_fields(
    *, execution_id: int, receiver: str | None, driver: str, target: str | None, result: str
) -> dict[str, Any]:
    """An execution's structured log fields (``extra=``), the same wherever it is logged:
    what a log shipper indexes a JSON log by."""
    return {
        "execution_id": execution_id,
        "receiver": receiver,
        "driver": driver,
        "target": target,
        "result": result,
    }
