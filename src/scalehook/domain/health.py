"""The health of one replica: its state, since when, and why, moved by each check.

Rancher Cattle's state machine, with the reason it never gave::

    initializing --(healthy_threshold passes in a row)--> healthy
    healthy --(unhealthy_threshold failures in a row)--> unhealthy
    unhealthy --(healthy_threshold passes in a row)--> healthy
    healthy | unhealthy --(recreated, or its process restarted)--> reinitializing
    reinitializing --(healthy_threshold passes in a row)--> healthy

A replica that is (re)initializing does not become unhealthy by failing checks (it may
still be starting); it does when it is still not healthy after ``initializing_timeout``
(``reinitializing_timeout``), unless the strategy is ``none``: then it stays
initializing, marked ``overdue``, with a reason that says so (Cattle left such
replicas "initializing" without a word). A check without a verdict (the engine's own
HEALTHCHECK still starting, a replica with no address yet) changes nothing but the
last result shown.

Pure: the caller gives the time (wall time for people, monotonic for the timeouts).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from scalehook.domain.durations import format_duration

HealthState = Literal["initializing", "healthy", "unhealthy", "reinitializing"]
STATES: tuple[HealthState, ...] = ("initializing", "healthy", "unhealthy", "reinitializing")
KEPT_FAILURES = 10
"""Failed checks of the current streak a replica keeps (for the execution that replaces it)."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check of one replica: passed (True), failed (False) or no verdict (None)."""

    ok: bool | None
    detail: str  # "HTTP 200", "connection refused", "timeout after 2s waiting for an answer"
    at: datetime
    duration_ms: float = 0.0
    code: str = ""  # a failure's kind, for metrics: refused, timeout, status, closed, ...


@dataclass(frozen=True, slots=True)
class Rules:
    """What the state machine needs of a check."""

    healthy_threshold: int
    unhealthy_threshold: int
    initializing_timeout: float
    reinitializing_timeout: float
    acts: bool  # the strategy replaces replicas: an overdue (re)initializing one is unhealthy


@dataclass(frozen=True, slots=True)
class ReplicaHealth:
    replica: str
    state: HealthState
    since: datetime  # wall time it entered this state
    entered: float  # monotonic time it entered this state (for the timeouts)
    reason: str
    passes: int = 0  # consecutive passing checks
    failures: int = 0  # consecutive failed checks
    last: CheckResult | None = None
    failed: tuple[CheckResult, ...] = ()  # the current streak of failures (the last few)
    ever_healthy: bool = False  # since it started (or scalehook began watching it)
    overdue: bool = False  # (re)initializing past its timeout, with strategy none
    replacing: str | None = None  # the replica this one was made to replace

    @property
    def failing(self) -> bool:
        """Unhealthy, or past its (re)initializing timeout: what a strategy acts on."""
        return self.state == "unhealthy" or self.overdue


def first_seen(
    replica: str,
    *,
    now: datetime,
    mono: float,
    rules: Rules,
    replacing: str | None = None,
    serving: bool = False,
) -> ReplicaHealth:
    """A replica the check has not judged yet: initializing, or reinitializing when it
    was made to replace ``replacing``.

    ``serving``: it was ready and taking traffic when the check began (scalehook
    started, or the check was just set): one passing check makes it healthy, so that
    setting a check, or restarting scalehook, takes no healthy replica out of a
    balancer for ``healthy_threshold`` checks."""
    if replacing is None:
        head_start = rules.healthy_threshold - 1 if serving else 0
        return ReplicaHealth(
            replica=replica,
            state="initializing",
            since=now,
            entered=mono,
            reason="serving when the check began: one passing check makes it healthy"
            if serving and head_start
            else "not checked yet",
            passes=head_start,
        )
    return ReplicaHealth(
        replica=replica,
        state="reinitializing",
        since=now,
        entered=mono,
        reason=f"recreated in place of {replacing}; not checked yet",
        replacing=replacing,
    )


def replacement(
    health: ReplicaHealth, *, replacing: str, now: datetime, mono: float
) -> ReplicaHealth:
    """A replica seen before it was known to replace ``replacing`` (the recreate
    answered after a check had already found it): reinitializing from now."""
    return replace(
        first_seen(health.replica, now=now, mono=mono, rules=_ANY, replacing=replacing),
        last=health.last,
        passes=health.passes,
    )


_ANY = Rules(1, 1, 0.0, 0.0, acts=True)  # where the rules do not matter


def _moved(
    health: ReplicaHealth, state: HealthState, reason: str, result: CheckResult, mono: float
) -> ReplicaHealth:
    return replace(
        health,
        state=state,
        since=result.at,
        entered=mono,
        reason=reason,
        overdue=False,
        ever_healthy=health.ever_healthy or state == "healthy",
    )


def observe(
    health: ReplicaHealth, result: CheckResult, rules: Rules, *, mono: float
) -> ReplicaHealth:
    """The replica after one more check."""
    if result.ok is None:
        return replace(health, last=result)
    if result.ok:
        passes = health.passes + 1
        after = replace(health, passes=passes, failures=0, failed=(), last=result)
        if health.state != "healthy" and passes >= rules.healthy_threshold:
            return _moved(
                after,
                "healthy",
                f"passed {_checks(passes)} in a row (last: {result.detail})",
                result,
                mono,
            )
        if health.state in ("initializing", "reinitializing") and not health.overdue:
            return replace(after, reason=_waiting(after, rules))
        return after
    failures = health.failures + 1
    failed = (*health.failed, result)[-KEPT_FAILURES:]
    after = replace(health, passes=0, failures=failures, failed=failed, last=result)
    if health.state == "healthy" and failures >= rules.unhealthy_threshold:
        return _moved(
            after,
            "unhealthy",
            f"failed {_checks(failures)} in a row (last: {result.detail})",
            result,
            mono,
        )
    if health.state in ("initializing", "reinitializing") and not health.overdue:
        return replace(after, reason=_waiting(after, rules))
    return after


def expire(health: ReplicaHealth, rules: Rules, *, now: datetime, mono: float) -> ReplicaHealth:
    """The replica once time has passed: (re)initializing past its timeout counts as
    unhealthy (strategy ``none``: stays, marked overdue)."""
    if health.state not in ("initializing", "reinitializing") or health.overdue:
        return health
    name = f"{health.state}_timeout"
    timeout = (
        rules.initializing_timeout
        if health.state == "initializing"
        else rules.reinitializing_timeout
    )
    if mono - health.entered < timeout:
        return health
    last = f"; last check: {health.last.detail}" if health.last is not None else "; never checked"
    without = f"without {_checks(rules.healthy_threshold)} passing in a row{last}"
    if not rules.acts:
        return replace(
            health,
            overdue=True,
            reason=f"still {health.state} after {name} ({format_duration(timeout)}), "
            f"{without} (strategy none: left as it is)",
        )
    return replace(
        health,
        state="unhealthy",
        since=now,
        entered=mono,
        reason=f"{name} ({format_duration(timeout)}) passed {without}",
    )


def restarted(health: ReplicaHealth, *, now: datetime, mono: float, why: str) -> ReplicaHealth:
    """The replica's process or container started again (same replica): a healthy or
    unhealthy one is reinitializing; a (re)initializing one keeps its clock, so one that
    keeps crashing still times out."""
    if health.state in ("initializing", "reinitializing"):
        return replace(health, passes=0, reason=f"{why}; {health.reason}")
    return replace(
        health,
        state="reinitializing",
        since=now,
        entered=mono,
        reason=why,
        passes=0,
        failures=0,
        failed=(),
        ever_healthy=False,
        overdue=False,
    )


def _waiting(health: ReplicaHealth, rules: Rules) -> str:
    last = f"; last check: {health.last.detail}" if health.last is not None else ""
    return (
        f"waiting for {_checks(rules.healthy_threshold)} passing in a row "
        f"({health.passes} so far{last})"
    )


def _checks(count: int) -> str:
    return f"{count} check{'s' if count != 1 else ''}"
