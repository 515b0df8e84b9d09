"""A Swarm service's CPU and memory limits: ``TaskTemplate.Resources.Limits``.

Swarm cannot change a running task's limits: a service update with new limits makes
it roll every task (a stop and a new task each, by the service's own update config),
like an image update. So a change is one service update, then a watch of its
``UpdateStatus`` until Swarm settles it. If Swarm pauses or rolls back (a task that
fails with the new limits, e.g. too little memory), scalehook asks for, or waits for,
the rollback to the spec before, and the change fails with nothing left changed.
"""

from __future__ import annotations

import copy

from scalehook.backends.engine import JSON
from scalehook.backends.swarm.update import ROLLBACK_STATES, slot_of, task_state
from scalehook.domain.resources import Resources, memory_limit

NANO = 1_000_000_000


def spec_limits(spec: JSON) -> Resources:
    """The limits a service spec gives its tasks."""
    limits = ((spec.get("TaskTemplate") or {}).get("Resources") or {}).get("Limits") or {}
    nano = int(limits.get("NanoCPUs") or 0)
    return Resources(
        cpus=round(nano / NANO, 3) if nano > 0 else None,
        memory=memory_limit(int(limits.get("MemoryBytes") or 0)),
    )


def with_limits(spec: JSON, target: Resources) -> JSON:
    """The spec with ``target`` as its tasks' limits (reservations left as they are)."""
    new = copy.deepcopy(spec)
    resources = new.setdefault("TaskTemplate", {}).setdefault("Resources", {})
    limits = dict(resources.get("Limits") or {})
    if target.cpus is None:
        limits.pop("NanoCPUs", None)
    else:
        limits["NanoCPUs"] = round(target.cpus * NANO)
    if target.memory is None:
        limits.pop("MemoryBytes", None)
    else:
        limits["MemoryBytes"] = target.memory
    resources["Limits"] = limits
    return new


def task_limits(task: JSON) -> Resources:
    return spec_limits({"TaskTemplate": task.get("Spec") or {}})


def rolled(tasks: list[JSON], target: Resources, *, name: str) -> tuple[list[str], int]:
    """The slots whose running task has ``target``, and how many tasks are meant to run."""
    current = [t for t in tasks if t.get("DesiredState") == "running"]
    done = sorted(
        slot_of(t, name) for t in current if task_state(t) == "running" and task_limits(t) == target
    )
    return done, len(current)


def settled(status: JSON | None) -> str:
    """``UpdateStatus.State`` (``""`` before Swarm started, or when it never reports)."""
    return str((status or {}).get("State") or "")


def failing(state: str) -> bool:
    return state == "paused" or state in ROLLBACK_STATES
