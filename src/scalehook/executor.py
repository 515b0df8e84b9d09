"""The executor: the only place that applies decisions to a backend.

Every caller — a hook, the API, a policy, a health check — acts through it. It
serialises work per target, so concurrent triggers never lose an update or pass a
bound, and it records the execution (``recording.py``) whatever happens, failures
included, before the target's lock is released. The locks are the store's
(``store/locks.py``): in memory with SQLite, PostgreSQL's advisory locks when several
instances share the store, where the execution is written in the lock's own
transaction, so the commit that records it is what lets the next holder in.

A scale-up is also bounded by what the backend can hold (``Backend.capacity``), read
under a second lock per backend, so two services of one machine never both take its
last room. Upgrades, which run for minutes, go through its ``rollouts``
(``rollouts.py``): one background rollout per service at a time, run by the leader,
recorded as it goes through the same recorder.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from scalehook.backends import Backend, Backends, ServiceState
from scalehook.domain.decisions import ScaleDecision, within_capacity
from scalehook.domain.executions import Execution, Result, as_dry_run
from scalehook.domain.incidents import IncidentMark
from scalehook.domain.revisions import RevisionDraft
from scalehook.errors import ScalehookError
from scalehook.hosts.manager import HostManager
from scalehook.loops.clock import Clock
from scalehook.loops.leadership import Leadership, SoleLeadership
from scalehook.metrics import Metrics
from scalehook.recording import Audit, Recorder
from scalehook.rollouts import Rollouts
from scalehook.store import Store, Transaction

Decide = Callable[[ServiceState], ScaleDecision | Awaitable[ScaleDecision]]


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What a multi-step action did, for its execution record.

    ``error`` set means it failed (maybe half way: ``details`` says what exists now);
    the executor records it and raises the error for the API to answer with.
    ``revision``: the change it made to what its target runs (a resources change), to
    be recorded as a revision of the target with the execution.
    """

    result: Result
    message: str
    before: int | None = None
    after: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    error: ScalehookError | None = None
    revision: RevisionDraft | None = None


class Executor:
    def __init__(
        self,
        store: Store,
        backends: Backends,
        metrics: Metrics,
        *,
        clock: Clock,
        hosts: HostManager | None = None,
        leadership: Leadership | None = None,
    ) -> None:
        self.store = store
        self.backends = backends
        self.metrics = metrics
        self.clock = clock
        self.hosts = hosts
        self.locks = store.locks
        self.recorder = Recorder(store, metrics, clock)
        self.rollouts = Rollouts(
            self.recorder, store, backends, clock, leadership or SoleLeadership()
        )

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
        incident marks, before the lock is released. A decision to go up is clamped to
        the backend's capacity (``within_capacity``), read under the backend's capacity
        lock, which is held until the count is applied. With ``audit.dry_run`` nothing
        is applied and a decision that would move the count is recorded as ``dry_run``.

        A backend error is recorded as a ``failed`` execution and raised again, with
        the execution's id attached, for the API to answer with its status.
        """
        audit = self.recorder.stamp(audit)
        target: str | None = service
        before: int | None = None
        try:
            backend, name = await self.backends.resolve(service)
            target = f"{backend.name}/{name}"
            async with self.locks.hold(target) as tx:
                state = await backend.get_service(service=name)
                before = state.desired
                decided = decide(state)
                decision = await decided if inspect.isawaitable(decided) else decided
                decision = await self._apply(backend, name, state, decision, audit)
                moves = decision.after != state.desired
                result: Result = decision.result
                message = decision.message
                details = dict(decision.details)
                if audit.dry_run:
                    would = decision.result if moves else None
                    result, message, details = as_dry_run(result, message, details, would=would)
                return await self.record(
                    audit,
                    target=target,
                    result=result,
                    message=message,
                    before=decision.before,
                    after=decision.after,
                    details=details,
                    marks=decision.marks,
                    tx=tx,
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

    async def _apply(
        self,
        backend: Backend,
        name: str,
        state: ServiceState,
        decision: ScaleDecision,
        audit: Audit,
    ) -> ScaleDecision:
        """Apply the decision (not in dry run); a scale-up within the backend's capacity."""
        if decision.after > state.desired:
            async with self.locks.hold(f"capacity:{backend.name}", inner=True):
                decision = within_capacity(decision, await backend.capacity(service=name))
                if decision.after != state.desired and not audit.dry_run:
                    await backend.scale(service=name, replicas=decision.after)
        elif decision.after != state.desired and not audit.dry_run:
            await backend.scale(service=name, replicas=decision.after)
        return decision

    async def skip(
        self,
        *,
        service: str | None,
        audit: Audit,
        result: Result,
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
        """Run an action alone on its target (e.g. a host group) and record it before
        the target is let go."""
        audit = self.recorder.stamp(audit)
        async with self.locks.hold(target) as tx:
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
                revision=None if outcome.error is not None else outcome.revision,
                tx=tx,
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
        result: Result,
        message: str,
        before: int | None = None,
        after: int | None = None,
        details: Mapping[str, Any] | None = None,
        marks: tuple[IncidentMark, ...] = (),
        revision: RevisionDraft | None = None,
        tx: Transaction | None = None,
    ) -> Execution:
        """Record an execution that is done (see ``Recorder.record``); in ``tx``, the
        target lock's transaction, when the lock lives in the database."""
        return await self.recorder.record(
            audit,
            target=target,
            result=result,
            message=message,
            before=before,
            after=after,
            details=details,
            marks=marks,
            revision=revision,
            tx=tx,
        )
