"""The executor: the only place that applies decisions to a backend.

It serialises work per target, so concurrent triggers never lose an update or pass a
bound, and it writes the Execution record whatever happens, failures included.
Upgrades, which run for minutes, go through its ``rollouts`` (``rollouts.py``): one
background rollout per service at a time, recorded as it goes.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from scalehook.backends import Backends, ServiceState
from scalehook.domain.decisions import ScaleDecision
from scalehook.domain.executions import Execution, ExecutionDraft, log_fields
from scalehook.domain.incidents import IncidentMark
from scalehook.errors import ScalehookError
from scalehook.hosts.manager import HostManager
from scalehook.locks import KeyedLocks
from scalehook.metrics import Metrics
from scalehook.rollouts import Rollouts
from scalehook.store import Store

log = logging.getLogger(__name__)

Decide = Callable[[ServiceState], ScaleDecision | Awaitable[ScaleDecision]]


@dataclass(frozen=True, slots=True)
class Audit:
    """Who asked for an action, for the execution record."""

    driver: str
    receiver_id: int | None = None
    receiver_name: str | None = None
    caller: str | None = None
    dry_run: bool = False  # decide and record, but change nothing
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    clock: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What a multi-step action did, for its execution record.

    ``error`` set means it failed (maybe half way: ``details`` says what exists now);
    the executor records it and raises the error for the API to answer with.
    """

    result: str
    message: str
    before: int | None = None
    after: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    error: ScalehookError | None = None


class Executor:
    def __init__(
        self,
        store: Store,
        backends: Backends,
        metrics: Metrics,
        *,
        hosts: HostManager | None = None,
    ) -> None:
        self.store = store
        self.backends = backends
        self.metrics = metrics
        self.hosts = hosts
        self.locks = KeyedLocks()
        self.rollouts = Rollouts(store, backends, metrics)

    async def scale(
        self,
        *,
        service: str,
        decide: Decide,
        audit: Audit,
    ) -> Execution:
        """Read the service, decide, apply, record: one target at a time.

        ``decide`` runs under the target's lock and may read the store (an async
        function): what it reads (alert memory, last actions) cannot change before its
        decision is recorded, because the execution is written, with the decision's
        incident marks, before the lock is released. With ``audit.dry_run`` nothing is
        applied and a decision that would move the count is recorded as ``dry_run``.

        A backend error is recorded as a ``failed`` execution and raised again, with
        the execution's id attached, for the API to answer with its status.
        """
        target: str | None = service
        before: int | None = None
        try:
            backend, name = await self.backends.resolve(service)
            target = f"{backend.name}/{name}"
            async with self.locks.hold(target):
                state = await backend.get_service(service=name)
                before = state.desired
                decided = decide(state)
                decision = await decided if inspect.isawaitable(decided) else decided
                moves = decision.after != state.desired
                if moves and not audit.dry_run:
                    await backend.scale(service=name, replicas=decision.after)
                result: str = decision.result
                message = decision.message
                details = dict(decision.details)
                if audit.dry_run:
                    details["dry_run"] = True
                    if moves:
                        details["would"] = decision.result
                        result = "dry_run"
                    message = f"dry run, nothing changed: {message}"
                return await self.record(
                    audit,
                    target=target,
                    result=result,
                    message=message,
                    before=decision.before,
                    after=decision.after,
                    details=details,
                    marks=decision.marks,
                )
        except ScalehookError as exc:
            execution = await self.record(
                audit,
                target=target,
                result="failed",
                message=exc.message,
                before=before,
                after=before,
            )
            exc.execution_id = execution.id
            raise

    async def skip(
        self,
        *,
        service: str | None,
        audit: Audit,
        result: str,
        message: str,
        details: Mapping[str, Any] | None = None,
    ) -> Execution:
        """Record a trigger that is answered without deciding (a paused receiver).

        The target is the service's ref when it resolves, else the name as configured:
        a paused receiver answers even while its backend is down.
        """
        target = service
        if service is not None:
            try:
                backend, name = await self.backends.resolve(service)
                target = f"{backend.name}/{name}"
            except ScalehookError:
                pass
        return await self.record(
            audit, target=target, result=result, message=message, details=dict(details or {})
        )

    async def run(
        self,
        *,
        target: str,
        action: Callable[[], Awaitable[ActionResult]],
        audit: Audit,
    ) -> Execution:
        """Run an action alone on its target (e.g. a host group) and record it."""
        async with self.locks.hold(target):
            try:
                outcome = await action()
            except ScalehookError as exc:
                outcome = ActionResult("failed", exc.message, error=exc)
        execution = await self.record(
            audit,
            target=target,
            result=outcome.result,
            message=outcome.message,
            before=outcome.before,
            after=outcome.after,
            details=outcome.details,
        )
        if outcome.error is not None:
            outcome.error.execution_id = execution.id
            raise outcome.error
        return execution

    async def record(
        self,
        audit: Audit,
        *,
        target: str | None,
        result: str,
        message: str,
        before: int | None = None,
        after: int | None = None,
        details: dict[str, Any] | None = None,
        marks: tuple[IncidentMark, ...] = (),
    ) -> Execution:
        seconds = time.perf_counter() - audit.clock
        execution = await self.store.add_execution(
            ExecutionDraft(
                started_at=audit.started_at,
                driver=audit.driver,
                target=target,
                result=result,
                message=message,
                duration_ms=round(seconds * 1000, 3),
                receiver_id=audit.receiver_id,
                receiver_name=audit.receiver_name,
                caller=audit.caller,
                before=before,
                after=after,
                details=details or {},
            ),
            marks=marks,
            dry_run=audit.dry_run,
        )
        self.metrics.observe(
            receiver=audit.receiver_name or "", driver=audit.driver, result=result, seconds=seconds
        )
        log.log(
            logging.WARNING if result == "failed" else logging.INFO,
            "execution %d: %s %s: %s: %s",
            execution.id,
            audit.receiver_name or audit.driver,
            target or "-",
            result,
            message,
            extra=log_fields(
                execution_id=execution.id,
                receiver=audit.receiver_name,
                driver=audit.driver,
                target=target,
                result=result,
            ),
        )
        return execution
