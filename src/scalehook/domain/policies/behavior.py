"""Behavior: how fast the count may follow the metrics (HPA's ``spec.behavior``).

A port of ``kubernetes/kubernetes: pkg/controller/podautoscaler/horizontal.go``:

- ``stabilize`` is ``stabilizeRecommendationWithBehaviors``: of the recommendations in
  the last ``up.stabilization`` seconds (and the new one) take the lowest, of those in
  the last ``down.stabilization`` the highest, and bring the current count within the
  two: a scale-up needs every recent recommendation to agree it is needed, a scale-down
  waits until no recent one wanted more. A recommendation counts while it is younger
  than the window (``rec.timestamp.After(cutoff)``), so a 0 s window holds nothing.
- ``limit`` is ``convertDesiredReplicasWithBehaviorRate`` with
  ``calculateScaleUpLimitWithScalingRules`` / ``calculateScaleDownLimitWithBehaviors``:
  each rule starts from the count at the start of its period (current - added + removed
  in the period, from the service's scalings; ``getReplicasChangePerPeriod`` counts the
  changes younger than the period) and allows ``replicas`` more (fewer) or ``percent``:
  up ``ceil(start * (1 + p/100))``, down ``floor(start * (1 - p/100))``. ``select``
  ``max`` takes the rule allowing the biggest change, ``min`` the smallest, ``disabled``
  none. A limit never goes past the current count the wrong way (many recent changes
  under a changed rule do not reverse the direction). Then ``min``/``max`` bound it.
- One addition: a ``percent`` rule lets a service at 0 get its first replica (HPA never
  scales from 0; there ``ceil(0 * …)`` would keep it at 0 for ever).

Each returns the label of the rule that bound the count, for ``limited_by``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from scalehook.domain.durations import format_duration
from scalehook.domain.policies.spec import Direction, Rule

_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Stabilized:
    value: int
    reason: str | None  # set when the window changed the recommendation


def stabilize(
    *,
    current: int,
    recommendation: int,
    recommendations: Sequence[tuple[datetime, int]],
    now: datetime,
    up: Direction,
    down: Direction,
) -> Stabilized:
    up_cutoff = now - timedelta(seconds=up.stabilization)
    down_cutoff = now - timedelta(seconds=down.stabilization)
    lowest = recommendation
    highest = recommendation
    for when, count in recommendations:
        if when > up_cutoff:
            lowest = min(lowest, count)
        if when > down_cutoff:
            highest = max(highest, count)
    value = current
    value = max(value, lowest)
    value = min(value, highest)
    if value == recommendation:
        return Stabilized(value, None)
    if recommendation > current:
        window = format_duration(up.stabilization)
        why = (
            f"stabilization: the lowest recommendation of the last {window} is {lowest}, "
            f"so {value} instead of {recommendation}"
        )
    else:
        window = format_duration(down.stabilization)
        why = (
            f"stabilization: the highest recommendation of the last {window} is {highest}, "
            f"so {value} instead of {recommendation}"
        )
    return Stabilized(value, why)


def period_start(
    current: int, scalings: Sequence[tuple[datetime, int, int]], period: float, now: datetime
) -> int:
    """The count at the start of the last ``period`` seconds: current - added + removed."""
    cutoff = now - timedelta(seconds=period)
    added = removed = 0
    for when, before, after in scalings:
        if when > cutoff:
            if after > before:
                added += after - before
            else:
                removed += before - after
    return current - added + removed


def _proposal(rule: Rule, start: int, up: bool) -> int:
    if rule.replicas is not None:
        return start + rule.replicas if up else start - rule.replicas
    assert rule.percent is not None
    if up:
        return max(start + 1, math.ceil(start * (1 + rule.percent / 100) - _EPSILON))
    return math.floor(start * (1 - rule.percent / 100) + _EPSILON)


@dataclass(frozen=True, slots=True)
class Limit:
    """How far the count may move now: ``value`` bounds it (up: at most; down: at least)."""

    value: int
    label: str  # "rate rule 'percent 100 per 15s'", "scale-up disabled"
    start: int | None  # the count at the start of the chosen rule's period


def rate_limit(
    *,
    current: int,
    up: bool,
    direction: Direction,
    scalings: Sequence[tuple[datetime, int, int]],
    now: datetime,
) -> Limit:
    """The furthest count the rules allow now, in the direction ``up`` (or down)."""
    word = "scale-up" if up else "scale-down"
    if direction.select == "disabled":
        return Limit(current, f"{word} disabled", None)
    chosen: tuple[int, Rule, int] | None = None
    for rule in direction.rules:
        start = period_start(current, scalings, rule.period, now)
        proposed = _proposal(rule, start, up)
        if chosen is None:
            chosen = (proposed, rule, start)
            continue
        bigger_change = proposed > chosen[0] if up else proposed < chosen[0]
        smaller_change = proposed < chosen[0] if up else proposed > chosen[0]
        if (direction.select == "max" and bigger_change) or (
            direction.select == "min" and smaller_change
        ):
            chosen = (proposed, rule, start)
    assert chosen is not None
    proposed, rule, start = chosen
    value = max(proposed, current) if up else min(proposed, current)
    return Limit(value, f"rate rule '{rule.label}'", start)


@dataclass(frozen=True, slots=True)
class Bounded:
    value: int
    label: str | None
    reason: str | None


def bound(
    *,
    current: int,
    wanted: int,
    low: int,
    high: int,
    up: Direction,
    down: Direction,
    scalings: Sequence[tuple[datetime, int, int]],
    now: datetime,
) -> Bounded:
    """``wanted`` after the rate rules of its direction and ``low``..``high``.

    As HPA: the count may not move past the rate limit, nor past the policy's bound in
    the direction it moves (``TooManyReplicas``/``TooFewReplicas``), the label naming
    whichever is tighter."""
    if wanted > current:
        limit = rate_limit(current=current, up=True, direction=up, scalings=scalings, now=now)
        allowed, label = (limit.value, limit.label) if limit.value < high else (high, f"max {high}")
        if wanted <= allowed:
            return Bounded(wanted, None, None)
        if label.startswith("max"):
            return Bounded(allowed, label, f"max {high}: {wanted} wanted, {allowed} at most")
        return Bounded(allowed, label, _rate_reason(limit, wanted, allowed, up=True))
    if wanted < current:
        limit = rate_limit(current=current, up=False, direction=down, scalings=scalings, now=now)
        allowed, label = (limit.value, limit.label) if limit.value > low else (low, f"min {low}")
        if wanted >= allowed:
            return Bounded(wanted, None, None)
        if label.startswith("min"):
            return Bounded(allowed, label, f"min {low}: {wanted} wanted, {allowed} at least")
        return Bounded(allowed, label, _rate_reason(limit, wanted, allowed, up=False))
    return Bounded(wanted, None, None)


def _rate_reason(limit: Limit, wanted: int, allowed: int, *, up: bool) -> str:
    if limit.start is None:
        return f"{limit.label}: {wanted} wanted, stays at {allowed}"
    bound_word = "at most" if up else "at least"
    return (
        f"{limit.label}: {wanted} wanted, {bound_word} {allowed} now "
        f"({limit.start} at the start of the period)"
    )
