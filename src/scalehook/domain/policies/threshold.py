"""Threshold: step the count once the value has stayed past a bound (Nomad's threshold).

The value is the reading's service-wide value, or for a per-replica metric the average
of the samples that count (the same grouping as the target value: a cpu sample of a
replica that is starting or not ready is set aside; there is no fill-in, a threshold
compares a level, it does not size the service).

Past the upper bound means ``value > upper``; past the lower one ``value < lower``; in
between (bounds included) the metric asks for no change (its candidate is the current
count, so with several metrics it holds off a scale-down, Nomad's "ScaleIn + ScaleNone →
ScaleNone"). The step is taken once the value has been past the same bound for ``for``
evaluations in a row (``History.streaks``: +n above, -n below); taking it starts the
count again, so a slow metric cannot step twice for one breach before ``for`` more
evaluations have seen it (Nomad's "staircase"). A failed reading breaks the streak.
"""

from __future__ import annotations

from dataclasses import dataclass

from scalehook.domain.policies.spec import ThresholdMetric


@dataclass(frozen=True, slots=True)
class Decision:
    candidate: int
    streak: int
    reason: str


def decide(metric: ThresholdMetric, value: float, *, current: int, streak: int) -> Decision:
    """The candidate count and the new streak for ``value`` at ``current`` replicas."""
    shown = metric.show(value)
    if metric.upper is not None and value > metric.upper:
        streak = streak + 1 if streak > 0 else 1
        if streak >= metric.for_:
            assert metric.up is not None
            wanted = metric.up.up(current)
            return Decision(
                wanted,
                0,
                f"{shown} above {metric.show(metric.upper)}"
                f"{_times(streak)}: {metric.up.describe()} → {wanted}",
            )
        return Decision(
            current,
            streak,
            f"{shown} above {metric.show(metric.upper)} for {streak} of {metric.for_} "
            f"evaluations: stays at {current} for now",
        )
    if metric.lower is not None and value < metric.lower:
        streak = streak - 1 if streak < 0 else -1
        if -streak >= metric.for_:
            assert metric.down is not None
            wanted = metric.down.down(current)
            return Decision(
                wanted,
                0,
                f"{shown} below {metric.show(metric.lower)}"
                f"{_times(-streak)}: {metric.down.describe()} → {wanted}",
            )
        return Decision(
            current,
            streak,
            f"{shown} below {metric.show(metric.lower)} for {-streak} of {metric.for_} "
            f"evaluations: stays at {current} for now",
        )
    low = metric.show(metric.lower) if metric.lower is not None else "-inf"
    high = metric.show(metric.upper) if metric.upper is not None else "inf"
    return Decision(current, 0, f"{shown} within bounds ({low}..{high}): stays at {current}")


def _times(streak: int) -> str:
    return "" if streak == 1 else f" for {streak} evaluations in a row"
