"""The audit trail: one Execution per trigger or action, whatever its outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NewType

ExecutionId = NewType("ExecutionId", int)

Result = Literal[
    "scaled",
    "clamped",
    "noop",
    "failed",
    "deduped",
    "cooldown",
    "label_mismatch",
    "ignored",
    "dry_run",
    "paused",
]


@dataclass(frozen=True, slots=True)
class ExecutionDraft:
    """What happened, before the store gives it an id."""

    started_at: datetime
    driver: str
    target: str | None
    result: str
    message: str
    duration_ms: float
    receiver_id: int | None = None
    receiver_name: str | None = None
    caller: str | None = None
    before: int | None = None
    after: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Execution(ExecutionDraft):
    id: ExecutionId = ExecutionId(0)
