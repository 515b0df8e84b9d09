"""One checked service, watched: every ``interval`` (on the runtime's clock) each of
its replicas is checked, its state moved (``domain/health.py``), the local balancer
told which replicas are healthy, and the strategy applied (``domain/recovery.py``).

Every recreation goes through the executor (one action per service at a time, the
service's lock, an execution with driver ``health`` recording the replica, its failed
checks and the reason); so does every report of a failing replica left in place,
once per episode: a replica unhealthy with strategy ``none``, a recreation held back
by the quorum or the storm limits, every replica failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scalehook.backends import Backend, Backends, Replica
from scalehook.backends.base import Routing
from scalehook.domain.health import (
    STATES,
    CheckResult,
    ReplicaHealth,
    Rules,
    expire,
    first_seen,
    observe,
    replacement,
    restarted,
)
from scalehook.domain.healthchecks import HealthCheckSpec
from scalehook.domain.recovery import Hold, Limits, Plan, plan
from scalehook.errors import ScalehookError
from scalehook.executor import ActionResult, Executor
from scalehook.health.probes import check
from scalehook.loops.clock import Clock
from scalehook.metrics import Metrics
from scalehook.recording import Audit

log = logging.getLogger(__name__)

GOING = frozenset({"stopping", "draining", "exited", "removing", "dead", "gone", "shutdown"})
"""Replica states of one that is leaving: not checked, never recreated."""


@dataclass
class Deps:
    """What a watch needs of the runtime."""

    backends: Backends
    executor: Executor
    metrics: Metrics
    clock: Clock
    background: set[asyncio.Task[None]] = field(default_factory=set)


def rules_of(spec: HealthCheckSpec) -> Rules:
    return Rules(
        healthy_threshold=spec.healthy_threshold,
        unhealthy_threshold=spec.unhealthy_threshold,
        initializing_timeout=spec.initializing_timeout,
        reinitializing_timeout=spec.reinitializing_timeout,
        acts=spec.acts,
    )


class ServiceWatch:
    def __init__(
        self, ref: str, spec: HealthCheckSpec, deps: Deps, *, recreations: list[float]
    ) -> None:
        self.ref = ref
        self.spec = spec
        self.deps = deps
        self.states: dict[str, ReplicaHealth] = {}
        self.recreations = recreations  # monotonic times recreations of it began
        self.checked_at: datetime | None = None
        self.error: str | None = None  # why the last round could not read the service
        self.all_failing = False
        self.last_plan: Plan | None = None
        self.checking: set[str] = set()  # replicas whose check is under way
        self._started: dict[str, datetime | None] = {}  # replica -> when it last started
        self._replacing: dict[str, str] = {}  # new replica -> the one it replaced
        self._recreating: asyncio.Task[None] | None = None
        self._reported: set[tuple[str, str]] = set()  # holds reported in this episode
        self._everywhere_reported = False
        self._failed_attempt: str | None = None  # a recreation failed while all fail
        self._fresh = True  # the first round: replicas found serving get a head start
        self._routed: tuple[Backend, str] | None = None
        self._name = ref.partition("/")[2] or ref

    @property
    def rules(self) -> Rules:
        return rules_of(self.spec)

    async def run(self) -> None:
        """Check the service every ``interval`` until cancelled (a slow round delays the
        next, never piles up); then let the balancer route by readiness again."""
        clock = self.deps.clock
        try:
            while True:
                began = clock.monotonic()
                try:
                    await self.tick()
                except Exception:  # a bug in one round must not end the watch
                    log.exception("health check of %s: a round failed", self.ref)
                await clock.sleep(max(0.0, self.spec.interval - (clock.monotonic() - began)))
        finally:
            self.unroute()

    def unroute(self) -> None:
        if self._routed is not None:
            backend, name = self._routed
            if isinstance(backend, Routing):
                with contextlib.suppress(ScalehookError):
                    backend.route_to(service=name, replicas=None)
            self._routed = None

    async def tick(self) -> None:
        """One round: check every replica, move the states, route, act."""
        clock = self.deps.clock
        try:
            backend, name = await self.deps.backends.resolve(self.ref)
            replicas = await backend.replicas(service=name)
        except ScalehookError as exc:
            if exc.message != self.error:
                log.warning("health check of %s: cannot read the service: %s", self.ref, exc)
            self.error = exc.message
            return
        self.error = None
        self._name = name
        watched = [r for r in replicas if r.state not in GOING]
        results = await asyncio.gather(*(self._check(r) for r in watched))
        now, mono = clock.now(), clock.monotonic()
        seen = set()
        for replica, result in zip(watched, results, strict=True):
            seen.add(replica.id)
            self.states[replica.id] = self._judge(replica, result, now, mono)
        for gone in set(self.states) - seen:
            del self.states[gone]
            self._started.pop(gone, None)
        self._fresh = False
        self.checked_at = now
        self._route(backend, name)
        self._gauges()
        await self._act(backend, name, mono)

    async def _check(self, replica: Replica) -> CheckResult:
        self.checking.add(replica.id)
        try:
            return await check(replica, self.spec, self.deps.clock)
        finally:
            self.checking.discard(replica.id)

    def _judge(
        self, replica: Replica, result: CheckResult, now: datetime, mono: float
    ) -> ReplicaHealth:
        rules = self.rules
        health = self.states.get(replica.id)
        replaced = self._replacing.pop(replica.id, None)
        if health is None:
            health = first_seen(
                replica.id,
                now=now,
                mono=mono,
                rules=rules,
                replacing=replaced,
                serving=self._fresh and replica.ready,
            )
        elif replaced is not None:
            health = replacement(health, replacing=replaced, now=now, mono=mono)
        elif _restarted(self._started.get(replica.id), replica.started_at):
            health = restarted(
                health, now=now, mono=mono, why=f"restarted ({replica.restarts} restart(s) so far)"
            )
        if replica.started_at is not None:  # a task starting again has none for a while
            self._started[replica.id] = replica.started_at
        before = health.state
        health = expire(observe(health, result, rules, mono=mono), rules, now=now, mono=mono)
        if result.ok is False:
            self.deps.metrics.health_probe_failures.labels(self.ref, result.code or "error").inc()
        if health.state != before:
            level = logging.WARNING if health.state == "unhealthy" else logging.INFO
            log.log(level, "%s: %s is %s: %s", self.ref, replica.id, health.state, health.reason)
        return health

    def _route(self, backend: Backend, name: str) -> None:
        if isinstance(backend, Routing):
            healthy = [r for r, h in self.states.items() if h.state == "healthy"]
            try:
                backend.route_to(service=name, replicas=healthy)
                self._routed = (backend, name)
            except ScalehookError as exc:
                log.warning("%s: cannot route by health: %s", self.ref, exc)

    def _gauges(self) -> None:
        counts = dict.fromkeys(STATES, 0)
        for health in self.states.values():
            counts[health.state] += 1
        for state, count in counts.items():
            self.deps.metrics.replica_health.labels(self.ref, state).set(count)

    # the strategy ------------------------------------------------------------------

    async def _act(self, backend: Backend, name: str, mono: float) -> None:
        busy = self._recreating is not None and not self._recreating.done()
        replicas = list(self.states.values())
        decided = plan(
            self.spec.strategy,
            self.spec.quorum,
            replicas,
            recreations=self.recreations,
            limits=Limits.of(self.spec),
            now=mono,
            busy=busy,
            failed_attempt=self._failed_attempt,
        )
        self.last_plan = decided
        self.deps.metrics.health_all_failing.labels(self.ref).set(1 if decided.all_failing else 0)
        if decided.all_failing and not self.all_failing:
            self.all_failing = True
            await self._report_all_failing(decided)
        elif decided.healthy > 0 or not replicas:
            self.all_failing = False  # the episode ends once a replica is healthy
            self._everywhere_reported = False
            self._failed_attempt = None
        if not (busy or _waiting(replicas)):
            await self._report_holds(decided.holds)
        if decided.recreate is not None:
            task = asyncio.create_task(
                self._recreate(backend, name, decided.recreate), name=f"recreate {self.ref}"
            )
            self._recreating = task
            self.deps.background.add(task)
            task.add_done_callback(self.deps.background.discard)

    async def _report_all_failing(self, decided: Plan) -> None:
        failing = sorted(self.states.values(), key=lambda h: h.replica)
        if decided.recreate is not None:
            then = f"recreating {decided.recreate.replica} first"
        elif decided.holds:
            then = decided.holds[0].message
        else:
            then = "nothing is done about it now"
        for hold in decided.holds:  # said here: not again as holds of their own
            self._reported.add(_key(hold))
            self.deps.metrics.health_held.labels(self.ref, hold.why).inc()
            self._everywhere_reported = self._everywhere_reported or hold.why == "everywhere"
        reasons = "; ".join(f"{h.replica}: {h.reason}" for h in failing)
        held_by_limits = bool(decided.holds) and decided.holds[0].why == "limit"
        await self._record(
            "cooldown" if held_by_limits else "unhealthy",
            f"every replica of {self.ref} fails its health check ({len(failing)} of "
            f"{len(failing)}): {then}",
            {"all_failing": True, "reasons": reasons, "replicas": _shown_all(failing)},
        )

    async def _report_holds(self, holds: tuple[Hold, ...]) -> None:
        current: dict[tuple[str, str], list[Hold]] = {}
        for hold in holds:
            current.setdefault(_key(hold), []).append(hold)
        for key, group in current.items():
            if key in self._reported:
                continue
            why = key[0]
            if why == "everywhere" and self._everywhere_reported:
                continue
            self._everywhere_reported = self._everywhere_reported or why == "everywhere"
            self.deps.metrics.health_held.labels(self.ref, why).inc()
            held = [self.states[h.replica] for h in group if h.replica in self.states]
            await self._record(
                "cooldown" if why == "limit" else "unhealthy",
                group[0].message,
                {"held": why, "replicas": _shown_all(held)},
            )
        self._reported = set(current)

    async def _record(self, result: Any, message: str, details: Mapping[str, Any]) -> None:
        try:
            await self.deps.executor.record(
                self._audit(),
                target=self.ref,
                result=result,
                message=message,
                details={"strategy": self.spec.strategy, **details},
            )
        except Exception:  # a store that is down must not stop the checks
            log.exception("%s: cannot record: %s", self.ref, message)

    def _audit(self) -> Audit:
        return Audit(driver="health", receiver_name=self._name)

    async def _recreate(self, backend: Backend, name: str, failing: ReplicaHealth) -> None:
        """Replace ``failing`` through the executor; the new replica is reinitializing."""
        now = self.deps.clock.monotonic()
        window = self.spec.recreation_window
        self.recreations[:] = [t for t in self.recreations if now - t < window] + [now]
        healthy = sum(1 for h in self.states.values() if h.state == "healthy")
        details: dict[str, Any] = {
            "replica": failing.replica,
            "state": failing.state,
            "reason": failing.reason,
            "failed_checks": [_shown_check(c) for c in failing.failed],
            "strategy": self.spec.strategy,
            "healthy": healthy,
            "replicas": len(self.states),
            "recreations_in_window": sum(
                1
                for t in self.recreations
                if self.deps.clock.monotonic() - t < self.spec.recreation_window
            ),
        }

        async def action() -> ActionResult:
            new = await backend.recreate(service=name, replica=failing.replica)
            self._replacing[new.id] = failing.replica
            if new.id != failing.replica:
                self.states.pop(failing.replica, None)
            return ActionResult(
                "recreated",
                f"recreated {failing.replica} ({failing.reason}): {new.id} takes its place",
                details={**details, "new_replica": new.id},
            )

        log.warning("%s: recreating %s: %s", self.ref, failing.replica, failing.reason)
        try:
            await self.deps.executor.run(target=self.ref, action=action, audit=self._audit())
        except ScalehookError as exc:
            self.deps.metrics.health_recreations.labels(self.ref, "failed").inc()
            log.error("%s: cannot recreate %s: %s", self.ref, failing.replica, exc.message)
            if self.all_failing:
                self._failed_attempt = exc.message
            return
        except Exception:
            self.deps.metrics.health_recreations.labels(self.ref, "failed").inc()
            log.exception("%s: recreating %s failed", self.ref, failing.replica)
            return
        self.deps.metrics.health_recreations.labels(self.ref, "recreated").inc()


def _key(hold: Hold) -> tuple[str, str]:
    """A hold's episode: per replica with strategy none, per service otherwise."""
    return hold.why, hold.replica if hold.why == "strategy_none" else ""


def _waiting(replicas: list[ReplicaHealth]) -> bool:
    return any(r.replacing is not None and r.state == "reinitializing" for r in replicas)


def _restarted(before: datetime | None, now: datetime | None) -> bool:
    return before is not None and now is not None and before != now


def _shown_check(result: CheckResult) -> dict[str, Any]:
    return {
        "at": result.at.isoformat(),
        "ok": result.ok,
        "detail": result.detail,
        "duration_ms": result.duration_ms,
    }


def _shown_all(replicas: list[ReplicaHealth]) -> list[dict[str, Any]]:
    return [
        {
            "replica": h.replica,
            "state": h.state,
            "since": h.since.isoformat(),
            "reason": h.reason,
            "failed_checks": [_shown_check(c) for c in h.failed],
        }
        for h in replicas
    ]
