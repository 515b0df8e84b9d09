"""The one writer of the audit trail.

Every execution is written here: those done at once (a trigger, a scale by hand, a host
action, a policy's or a health check's action), and those recorded as ``running`` and
updated until done (a rollout). An execution that changes what a service runs (an
upgrade, a rollback, a resources change) makes a revision of that service
(``domain/revisions.py``), written here in the execution's own transaction; its outcome
follows the execution's result. The metric of each finished execution is counted here
too, so the trail and ``/metrics`` never disagree. The executor and the rollouts it runs
are its only users.

Hooks (``RecordingHook``) see every execution as it is done, inside the transaction that
records it: what they write (the notification outbox) commits with the execution, or
neither does. A running rollout is seen once, when ``finish`` gives its final result.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from scalehook.domain.executions import (
    Execution,
    ExecutionDraft,
    ExecutionId,
    Result,
    log_fields,
)
from scalehook.domain.incidents import IncidentMark
from scalehook.domain.receivers import ReceiverId
from scalehook.domain.revisions import RevisionDraft
from scalehook.loops.clock import Clock
from scalehook.metrics import Metrics
from scalehook.store import Store
from scalehook.store.database import Transaction

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Audit:
    """Who asked for an action, and when, for its execution record.

    ``started_at`` (wall time) and ``started`` (the clock's monotonic time) are stamped
    by the recorder when the action begins, unless given (a rollout resumed after a
    restart keeps the time it began)."""

    driver: str
    receiver_id: ReceiverId | None = None
    receiver_name: str | None = None
    caller: str | None = None
    dry_run: bool = False  # decide and record, but change nothing
    started_at: datetime | None = None
    started: float | None = None


class RecordingHook(Protocol):
    async def recorded(self, execution: Execution, *, tx: Transaction) -> None:
        """Called with each execution that is done, inside the transaction that records
        it; write through ``tx`` only, and await nothing but store writes (on SQLite the
        transaction holds the write queue). Raising rolls the execution back: a hook
        keeps its own failures to itself."""
        ...


class Recorder:
    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        clock: Clock,
        *,
        hooks: Sequence[RecordingHook] = (),
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.clock = clock
        self.hooks: list[RecordingHook] = list(hooks)

    def stamp(self, audit: Audit) -> Audit:
        """The audit with its start times, from the clock where they are missing."""
        if audit.started_at is not None and audit.started is not None:
            return audit
        return replace(
            audit,
            started_at=audit.started_at or self.clock.now(),
            started=self.clock.monotonic() if audit.started is None else audit.started,
        )

    def _seconds(self, audit: Audit) -> float:
        if audit.started is not None:
            return max(0.0, self.clock.monotonic() - audit.started)
        if audit.started_at is not None:
            return max(0.0, (self.clock.now() - audit.started_at).total_seconds())
        return 0.0

    def _draft(
        self, audit: Audit, *, target: str | None, result: Result, message: str, **rest: Any
    ) -> ExecutionDraft:
        audit = self.stamp(audit)
        assert audit.started_at is not None
        return ExecutionDraft(
            started_at=audit.started_at,
            driver=audit.driver,
            target=target,
            result=result,
            message=message,
            receiver_id=audit.receiver_id,
            receiver_name=audit.receiver_name,
            caller=audit.caller,
            **rest,
        )

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
        """Write an execution that is done, with what its decision taught the receiver
        about alert incidents (``marks``), and the revision it makes (``revision``, on a
        ``target``; not in dry run), in the same transaction (``tx``'s, if given: then
        it is counted and logged once that commits)."""
        seconds = self._seconds(audit)
        draft = self._draft(
            audit,
            target=target,
            result=result,
            message=message,
            duration_ms=round(seconds * 1000, 3),
            before=before,
            after=after,
            details=dict(details or {}),
        )
        async with self.store.transaction(tx) as joined:
            if revision is None or audit.dry_run or target is None:
                execution = await self.store.executions.add(
                    draft, marks=marks, dry_run=audit.dry_run, tx=joined
                )
            else:
                execution = await self._with_revision(draft, revision, marks=marks, tx=joined)
            for hook in self.hooks:
                await hook.recorded(execution, tx=joined)
            # counted and logged once it is written
            joined.on_commit(
                lambda: self._report(audit, execution.id, target, result, message, seconds)
            )
        return execution

    async def _with_revision(
        self,
        draft: ExecutionDraft,
        revision: RevisionDraft,
        *,
        tx: Transaction,
        marks: tuple[IncidentMark, ...] = (),
    ) -> Execution:
        """The execution and the revision it makes (its number in ``details.revision``)."""
        assert draft.target is not None
        number = await self.store.revisions.next_number(
            draft.target, first_image=revision.previous_image, at=draft.started_at, tx=tx
        )
        draft = replace(draft, details={**draft.details, "revision": number})
        execution = await self.store.executions.add(draft, marks=marks, tx=tx)
        await self.store.revisions.add(revision, number=number, execution=execution, tx=tx)
        return execution

    async def begin(
        self,
        audit: Audit,
        *,
        target: str | None,
        result: Result,
        message: str,
        details: Mapping[str, Any],
        tx: Transaction | None = None,
        revision: RevisionDraft | None = None,
    ) -> Execution:
        """Write an execution that goes on (``running``): it is updated as it goes and
        ``finish`` ends it; with the revision it makes (``revision``). Inside ``tx`` it
        commits with what else the caller writes."""
        draft = self._draft(
            audit,
            target=target,
            result=result,
            message=message,
            duration_ms=0.0,
            details=dict(details),
            status="running",
        )
        if revision is None or target is None:
            return await self.store.executions.add(draft, tx=tx)
        async with self.store.db.write(tx) as joined:
            return await self._with_revision(draft, revision, tx=joined)

    async def update(
        self,
        execution: ExecutionId,
        *,
        details: Mapping[str, Any],
        result: Result | None = None,
        message: str | None = None,
    ) -> None:
        """A running execution's progress; a new ``result`` is its revision's outcome too."""
        if result is None:
            await self.store.executions.update(
                execution, message=message, details=dict(details), status="running"
            )
            return
        async with self.store.transaction() as tx:
            await self.store.executions.update(
                execution,
                result=result,
                message=message,
                details=dict(details),
                status="running",
                tx=tx,
            )
            await self.store.revisions.set_outcome(execution, result, at=self.clock.now(), tx=tx)

    async def finish(
        self,
        execution: ExecutionId,
        audit: Audit,
        *,
        result: Result,
        message: str,
        details: Mapping[str, Any],
        count: bool = True,
        tx: Transaction | None = None,
    ) -> None:
        """End a running execution (a rollout) with its outcome (its revision's too), its
        duration from ``audit``, and (``count``) its metrics, once written (in ``tx``, if
        given): counted as an action, timed in the rollout histogram (rollouts take
        minutes)."""
        seconds = self._seconds(audit)
        async with self.store.transaction(tx) as joined:
            await self.store.executions.update(
                execution,
                result=result,
                message=message,
                details=dict(details),
                status="done",
                duration_ms=round(seconds * 1000, 3),
                tx=joined,
            )
            await self.store.revisions.set_outcome(
                execution, result, at=self.clock.now(), tx=joined
            )
            if self.hooks:
                done = await self.store.executions.get(execution, tx=joined)
                for hook in self.hooks:
                    await hook.recorded(done, tx=joined)
            if count:
                joined.on_commit(lambda: self._count_rollout(audit, result, seconds))

    def _count_rollout(self, audit: Audit, result: Result, seconds: float) -> None:
        self.metrics.observe_rollout(
            receiver=audit.receiver_name or "", driver=audit.driver, result=result, seconds=seconds
        )

    def _report(
        self,
        audit: Audit,
        execution_id: int,
        target: str | None,
        result: Result,
        message: str,
        seconds: float,
    ) -> None:
        self.metrics.observe(
            receiver=audit.receiver_name or "", driver=audit.driver, result=result, seconds=seconds
        )
        log.log(
            logging.WARNING if result == "failed" else logging.INFO,
            "execution %d: %s %s: %s: %s",
            execution_id,
            audit.receiver_name or audit.driver,
            target or "-",
            result,
            message,
            extra=log_fields(
                execution_id=execution_id,
                receiver=audit.receiver_name,
                driver=audit.driver,
                target=target,
                result=result,
            ),
        )


def audit_of(execution: Execution) -> Audit:
    """The audit an execution was recorded with (to carry it on after a restart)."""
    return Audit(
        driver=execution.driver,
        receiver_id=execution.receiver_id,
        receiver_name=execution.receiver_name,
        caller=execution.caller,
        started_at=execution.started_at,
    )
