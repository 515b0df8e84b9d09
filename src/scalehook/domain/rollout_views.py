"""What rollout control shows of a rollout (``GET /v1/rollouts``, the CLI's progress
line): read from its record, its execution and what this process knows of it now.

A rollout's state says what it does: ``rolling``, ``pausing`` (asked to pause; the
batch under way finishes), ``paused`` (holding between batches), ``rolling_back``,
``cancelling``, and once done its execution's result (``upgraded``, ``rolled_back``,
``paused``, ``failed``, ``superseded``, ``cancelled``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scalehook.domain.executions import Execution
from scalehook.domain.upgrades import RolloutRecord


@dataclass(frozen=True, slots=True)
class ControlState:
    """What an operator asked of a running rollout, and how the engine obeys it now."""

    paused: bool = False
    command: str | None = None
    holding: str | None = None  # where it holds (paused, between batches), if it does
    refused: Mapping[str, str] = field(default_factory=dict)  # command → why not now


@dataclass(frozen=True, slots=True)
class Counts:
    """The service's replicas now (``None``: not known, e.g. its engine is down)."""

    ready: int | None = None
    desired: int | None = None
    on_target: int | None = None  # replicas running the image the rollout heads for


@dataclass(frozen=True, slots=True)
class RolloutView:
    id: int
    execution_id: int
    service: str
    from_image: str | None
    to_image: str | None
    heading: str | None  # the image it moves the replicas to now (the old one rolling back)
    phase: str  # rolling, rolling_back, done
    state: str
    status: str  # running, done
    result: str
    paused: bool
    holding: str | None
    command: str | None
    refused: Mapping[str, str]
    batches_done: int
    batches_total: int | None
    counts: Counts
    revision: int | None
    started_at: datetime
    updated_at: datetime | None
    elapsed: float
    driver: str
    receiver_name: str | None
    caller: str | None
    message: str


def state_of(execution: Execution, phase: str, control: ControlState) -> str:
    if execution.status == "done":
        return execution.result
    if control.command == "cancel":
        return "cancelling"
    if control.command == "rollback" or phase == "rolling_back":
        return "rolling_back"
    if control.paused:
        return "paused" if control.holding else "pausing"
    return "rolling"


def view(
    record: RolloutRecord,
    execution: Execution,
    *,
    control: ControlState | None,
    counts: Counts,
    now: datetime,
) -> RolloutView:
    """The rollout as shown; ``control`` is what this process knows of it running (else
    the record's pause and command)."""
    details: Mapping[str, Any] = execution.details
    if control is None:
        control = ControlState(paused=record.paused, command=record.command)
    phase = "done" if execution.status == "done" else str(details.get("phase") or record.phase)
    progress = details.get("progress") or {}
    rolling_back = phase == "rolling_back"
    ended = execution.updated_at if execution.status == "done" and execution.updated_at else now
    revision = details.get("revision")
    return RolloutView(
        id=record.id,
        execution_id=execution.id,
        service=record.target,
        from_image=details.get("from"),
        to_image=details.get("to"),
        heading=details.get("from") if rolling_back else details.get("to"),
        phase=phase,
        state=state_of(execution, phase, control),
        status=execution.status,
        result=execution.result,
        paused=control.paused and execution.status != "done",
        holding=control.holding,
        command=control.command if execution.status != "done" else None,
        refused=dict(control.refused),
        batches_done=int(progress.get("done") or 0),
        batches_total=progress.get("total"),
        counts=counts,
        revision=revision if isinstance(revision, int) else None,
        started_at=execution.started_at,
        updated_at=execution.updated_at,
        elapsed=max(0.0, (ended - execution.started_at).total_seconds()),
        driver=execution.driver,
        receiver_name=execution.receiver_name,
        caller=execution.caller,
        message=execution.message,
    )
