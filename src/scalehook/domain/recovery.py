"""What a service's health strategy does about its failing replicas, and the limits
that keep a bad check from turning into a restart storm.

- ``none`` marks and reports: it never replaces a replica, and the replica stays one of
  the service's replicas (nothing is started in its place).
- ``recreate`` replaces a failing replica (``Backend.recreate``), one at a time: the
  next only once the last replacement has passed its check or failed it.
- ``quorum`` does the same only while at least ``quorum`` replicas are healthy (so
  replacing never takes the last good ones' company away while they carry the load).

Storms are held off three ways: recreations of a service are spaced by a backoff that
doubles with each recreation in the window (up to ``max_backoff``), at most
``max_recreations`` happen per ``recreation_window``, and when every replica fails and
a replacement already made has never passed, nothing more is recreated: the service
is reported (the check, or the release, is what is wrong; new replicas would fail the
same way).

Pure: the caller gives the monotonic time and the times of the last recreations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from scalehook.domain.durations import format_duration
from scalehook.domain.health import ReplicaHealth
from scalehook.domain.healthchecks import HealthCheckSpec, Strategy

HoldReason = Literal["strategy_none", "quorum", "everywhere", "limit"]
_MAX_DOUBLINGS = 60


@dataclass(frozen=True, slots=True)
class Limits:
    max_recreations: int
    window: float
    backoff: float
    max_backoff: float

    @classmethod
    def of(cls, spec: HealthCheckSpec) -> Limits:
        return cls(spec.max_recreations, spec.recreation_window, spec.backoff, spec.max_backoff)


def backoff_after(count: int, limits: Limits) -> float:
    """The least time after the ``count``-th recreation in the window before the next."""
    if count < 1:
        return 0.0
    doubled: float = limits.backoff * 2.0 ** min(count - 1, _MAX_DOUBLINGS)
    return min(doubled, limits.max_backoff)


def next_allowed(recreations: Sequence[float], limits: Limits, now: float) -> tuple[float, str]:
    """When (monotonic) the next recreation of the service may start, and what holds it
    back until then (``""`` when it may start now). ``recreations``: when the earlier
    ones started."""
    recent = sorted(t for t in recreations if now - t < limits.window)
    at, why = now, ""
    window = format_duration(limits.window)
    if len(recent) >= limits.max_recreations:
        at = recent[len(recent) - limits.max_recreations] + limits.window
        why = (
            f"max_recreations reached: {len(recent)} in the last {window} "
            f"(at most {limits.max_recreations})"
        )
    if recent:
        wait = backoff_after(len(recent), limits)
        if recent[-1] + wait > at:
            at = recent[-1] + wait
            why = (
                f"backoff: {format_duration(round(wait, 3))} after the last recreation "
                f"({len(recent)} in the last {window})"
            )
    if at <= now:
        return now, ""
    return at, why


@dataclass(frozen=True, slots=True)
class Hold:
    """A failing replica left in place, and why."""

    replica: str
    why: HoldReason
    message: str


@dataclass(frozen=True, slots=True)
class Plan:
    recreate: ReplicaHealth | None  # the replica to replace now, if any
    holds: tuple[Hold, ...]  # failing replicas left in place, with why
    all_failing: bool  # every replica fails (reported, whatever the strategy)
    healthy: int
    retry_at: float | None = None  # a recreation held by the limits may go then


def plan(
    strategy: Strategy,
    quorum: int,
    replicas: Sequence[ReplicaHealth],
    *,
    recreations: Sequence[float],
    limits: Limits,
    now: float,
    busy: bool = False,
    failed_attempt: str | None = None,
) -> Plan:
    """What to do now about a service's replicas. ``busy``: a recreation of the
    service is under way (nothing more starts until it is done). ``failed_attempt``:
    why a recreation failed since every replica began failing (the engine could not
    make a replacement that passes, e.g. a broken image)."""
    failing = sorted((r for r in replicas if r.failing), key=lambda r: (r.entered, r.replica))
    healthy = sum(1 for r in replicas if r.state == "healthy")
    all_failing = bool(replicas) and len(failing) == len(replicas)
    if not failing:
        return Plan(None, (), all_failing, healthy)
    if strategy == "none":
        holds = tuple(
            Hold(
                r.replica,
                "strategy_none",
                f"{r.replica} is {r.state}: {r.reason} "
                "(strategy none: it is only reported, never replaced)",
            )
            for r in failing
        )
        return Plan(None, holds, all_failing, healthy)
    waiting = [r for r in replicas if r.replacing is not None and r.state == "reinitializing"]
    if busy or waiting:
        return Plan(None, (), all_failing, healthy)
    failed_again = [r for r in replicas if r.replacing is not None and not r.ever_healthy]
    if all_failing and (failed_again or failed_attempt):
        if failed_again:
            made = failed_again[0]
            tried = f"{made.replica}, made to replace {made.replacing}, has never passed"
        else:
            tried = f"recreating one failed ({failed_attempt})"
        message = (
            f"every replica fails its check, and {tried}: recreating more would not "
            "help, so none is recreated until one passes"
        )
        return Plan(
            None, tuple(Hold(r.replica, "everywhere", message) for r in failing), True, healthy
        )
    if strategy == "quorum" and healthy < quorum:
        message = (
            f"only {healthy} healthy replica{'s' if healthy != 1 else ''}, quorum {quorum}: "
            "no recreation until enough are healthy"
        )
        return Plan(
            None, tuple(Hold(r.replica, "quorum", message) for r in failing), all_failing, healthy
        )
    at, why = next_allowed(recreations, limits, now)
    if why:
        message = (
            f"recreation held back: {why}; next possible in {format_duration(round(at - now, 3))}"
        )
        return Plan(
            None,
            tuple(Hold(r.replica, "limit", message) for r in failing),
            all_failing,
            healthy,
            retry_at=at,
        )
    return Plan(failing[0], tuple(), all_failing, healthy)
