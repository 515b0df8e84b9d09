"""Decisions: what to do, computed without I/O from a config, a signal and a state.

Pure values, so the rules can be pinned down with property tests; the executor is
what applies them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from scalehook.domain.capacity import Capacity
from scalehook.domain.incidents import IncidentMark

Direction = Literal["up", "down"]

# What a decision can say. scaled/clamped/noop move (or would move) the count; the
# others are reasons for not acting, recorded as such.
DecisionResult = Literal[
    "scaled", "clamped", "noop", "deduped", "cooldown", "label_mismatch", "ignored"
]
ACTING: frozenset[str] = frozenset({"scaled", "clamped"})


@dataclass(frozen=True, slots=True)
class ScaleDecision:
    before: int
    after: int
    result: DecisionResult
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)
    marks: tuple[IncidentMark, ...] = ()


def decide_replicas(*, current: int, replicas: int) -> ScaleDecision:
    """A scale to an absolute count, as asked through the API or CLI."""
    if replicas == current:
        return ScaleDecision(current, current, "noop", f"already at {current}")
    return ScaleDecision(current, replicas, "scaled", f"scaled from {current} to {replicas}")


def decide_step(
    *, current: int, direction: Direction, amount: int, minimum: int, maximum: int
) -> ScaleDecision:
    """Move ``current`` by ``amount`` within [minimum, maximum].

    The step is clamped to the bound, and a step at the bound is a ``noop``. An ``up``
    never lowers the count and a ``down`` never raises it, even when the service sits
    outside the bounds (someone scaled it by hand).
    """
    up = direction == "up"
    wanted = current + amount if up else current - amount
    clamped = min(max(wanted, minimum), maximum)
    after = max(current, clamped) if up else min(current, clamped)
    if after == current:
        bound = f"max {maximum}" if up else f"min {minimum}"
        return ScaleDecision(current, current, "noop", f"at {bound}: stays at {current}")
    if after == wanted:
        return ScaleDecision(current, after, "scaled", f"scaled from {current} to {after}")
    bound = f"max {maximum}" if wanted > maximum else f"min {minimum}"
    return ScaleDecision(
        current,
        after,
        "clamped",
        f"clamped to {bound}: wanted {wanted}, scaled {current} to {after}",
    )


def within_capacity(decision: ScaleDecision, capacity: Capacity | None) -> ScaleDecision:
    """The decision with the capacity bound beside its min and max: a scale-up past
    ``capacity`` is clamped to it (``clamped``, the reason ``capacity`` in its message and
    ``details.bound``), one that cannot go up at all is a ``noop`` at capacity. A capacity
    never lowers the count: a scale-down, or a service already past capacity (scaled by
    hand, or capacity shrank), is not moved by it."""
    if capacity is None or decision.after <= decision.before or decision.after <= capacity.limit:
        return decision
    wanted, current = decision.after, decision.before
    after = max(current, capacity.limit)
    details = {**decision.details, "bound": "capacity", "capacity": capacity.limit}
    if after == current:
        # an alert whose firing moved nothing owes no undo when it resolves
        marks = tuple(replace(m, owes=False) if m.fired else m for m in decision.marks)
        return replace(
            decision,
            after=current,
            result="noop",
            message=f"at capacity {capacity.limit}: stays at {current} ({capacity.reason})",
            details=details,
            marks=marks,
        )
    return replace(
        decision,
        after=after,
        result="clamped",
        message=(
            f"clamped to capacity {capacity.limit}: wanted {wanted}, scaled {current} to "
            f"{after} ({capacity.reason})"
        ),
        details=details,
    )


@dataclass(frozen=True, slots=True)
class Cooldown:
    """Seconds a receiver waits after an action on a target before the next one of the
    same direction: separate for up and down, so that a scale-down after a scale-up
    (an alert that resolves) is never held back by the scale-up."""

    up: float = 0.0
    down: float = 0.0

    def of(self, direction: Direction) -> float:
        return self.up if direction == "up" else self.down


def cooldown_left(seconds: float, last: datetime | None, now: datetime) -> float:
    """Seconds until an action may run again (0: it may run now), never more than
    ``seconds``, even when the clock went back."""
    if seconds <= 0 or last is None:
        return 0.0
    left = seconds - (now - last).total_seconds()
    return min(seconds, max(0.0, left))
