"""Rollouts: upgrades that run in the background, one at a time per service.

A push answers at once (202 with the execution id); the rollout runs as a task and
writes its progress into its execution as it goes (``upgrading`` → ``upgraded``,
``rolled_back``, ``paused``, ``failed`` or ``superseded``; per-batch details).

- **One per service.** A newer push for a service supersedes the rollout running on
  it: the old task is cancelled (the engine leaves each replica on one image or the
  other), and the new one starts only once the old one has let go of the service.
  Its record says which execution took over.
- **Durable.** The execution and its rollout row are written before the trigger
  answers, and the phase (``rolling``, ``rolling_back``) as it changes. If scalehook
  stops in the middle, the next start resumes every unfinished rollout: it finishes,
  or rolls back, and its record says it was resumed after a restart.
- **Run by the leader.** Only the instance that leads runs rollouts (one alone always
  does). A push answered by another instance is recorded there and picked up by the
  leader's ``rollouts`` loop within a second; a new leader resumes what the last one
  left (its row names the instance that ran it), and a leader that stops leading
  stops its rollouts where they are, for the next one. So one rollout is driven by one
  instance at a time, fenced by the leader lease.

- **Steered.** Each running rollout has its control (``steering.py``): pause (it holds
  before its next batch), resume, cancel (each replica left on one version: it ends
  ``cancelled``) and roll back (it turns around now). A pause and a command are kept in
  its rollout row too, so a restart obeys them; what was asked, and by whom, is in its
  record's events.
- **Revisions.** Each rollout makes a revision of its service (``domain/revisions.py``),
  written by the recorder with its execution; its outcome follows the execution's.

Pushes (and upgrades or rollbacks by hand) are admitted one at a time (``admission``),
across instances on PostgreSQL (an advisory lock in whose transaction the rollouts are
recorded), so the decision "is this newer than what the service runs or is being rolled
to" (read from the store) never races another.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Literal

from scalehook.backends import Backend, Backends
from scalehook.backends.base import Command, RolloutEvent, UpgradeStrategy
from scalehook.backends.rolling import show
from scalehook.domain.executions import Execution, ExecutionId, Result, log_fields
from scalehook.domain.images import InvalidImage, parse_image
from scalehook.domain.revisions import RevisionDraft
from scalehook.domain.rollout_views import Counts, RolloutView, view
from scalehook.domain.upgrades import RolloutId, RolloutRecord, UpgradePlan
from scalehook.errors import Conflict, ScalehookError, StoreUnavailable
from scalehook.loops.base import every
from scalehook.loops.clock import Clock
from scalehook.loops.leadership import Leadership
from scalehook.recording import Audit, Recorder, audit_of
from scalehook.steering import Steering
from scalehook.store import Store, Transaction

log = logging.getLogger(__name__)

Mode = Literal["upgrade", "rollback"]
Asked = Literal["pause", "resume", "cancel", "rollback"]
MAX_EVENTS = 200
PICK_UP_EVERY = 1.0  # seconds between the leader's looks for rollouts to run
RETRY_STORE = 1.0  # seconds between tries of a rollout's final write while the store is down
STOPPED = "scalehook stopped during this rollout; it resumes at the next start"
LOST = "this instance stopped leading during this rollout; the next leader resumes it"


class _Rollout:
    """A rollout this process is running (or waiting to run)."""

    def __init__(
        self,
        *,
        execution_id: ExecutionId,
        rollout_id: RolloutId,
        target: str,
        backend: Backend,
        service: str,
        image: str,
        previous: str | None,
        strategy: UpgradeStrategy,
        details: dict[str, Any],
        audit: Audit,
        mode: Mode = "upgrade",
        resumed: bool = False,
        waits_for: Sequence[asyncio.Future[None]] = (),
        control: Steering | None = None,
    ) -> None:
        self.execution_id = execution_id
        self.rollout_id = rollout_id
        self.target = target
        self.backend = backend
        self.service = service
        self.image = image
        self.previous = previous
        self.strategy = strategy
        self.details = details
        self.audit = audit
        self.mode: Mode = mode
        self.resumed = resumed
        self.waits_for = list(waits_for)
        self.phase = "rolling_back" if mode == "rollback" else "rolling"
        self.batches = 0
        self.superseded_by: _Rollout | None = None
        self.phase_saved = True  # False: the switch to rolling_back is still to be written
        self.control_saved = True  # False: the rollback asked by hand, obeyed, to be written
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task[None] | None = None
        self.control = control or Steering()

    def fields(self, result: str) -> dict[str, Any]:
        """Its structured log fields (``extra=``)."""
        return log_fields(
            execution_id=self.execution_id,
            receiver=self.audit.receiver_name,
            driver=self.audit.driver,
            target=self.target,
            result=result,
        )

    @property
    def heading(self) -> str:
        """The image the service is being moved to now."""
        if self.phase == "rolling_back" and self.previous is not None:
            return self.previous
        return self.image


class Rollouts:
    """The rollouts of this process. Their executions are written through the
    executor's recorder; the rollout rows (what a restart needs) through the store."""

    def __init__(
        self,
        recorder: Recorder,
        store: Store,
        backends: Backends,
        clock: Clock,
        leadership: Leadership,
    ) -> None:
        self.recorder = recorder
        self.store = store
        self.backends = backends
        self.clock = clock
        self.leadership = leadership
        self._running: dict[str, _Rollout] = {}  # the latest rollout of each target
        self._live: dict[ExecutionId, _Rollout] = {}  # every task not ended, superseded too
        self._admission = asyncio.Lock()
        self._stop_reason = STOPPED

    @contextlib.asynccontextmanager
    async def admission(self) -> AsyncIterator[Transaction | None]:
        """Hold while deciding on a push and starting its rollouts: pass what it gives
        to ``start`` as ``tx`` (on PostgreSQL, the transaction holding the lock that
        admits pushes one at a time across instances)."""
        async with self._admission, self.store.locked("rollouts") as tx:
            yield tx

    async def headings(self, tx: Transaction | None = None) -> dict[str, str]:
        """The image each target with an unfinished rollout is being moved to (by
        whichever instance), from the store."""
        return {
            record.target: record.previous
            if record.phase == "rolling_back" and record.previous is not None
            else record.image
            for record in await self.store.rollouts.unfinished(tx=tx)
        }

    def heading(self, target: str) -> str | None:
        """The image a rollout running in this process is moving ``target`` to, if one
        runs (the leader runs them all; ``headings`` asks the store)."""
        rollout = self._running.get(target)
        return None if rollout is None else rollout.heading

    def running_on(self, target: str) -> tuple[RolloutId, ExecutionId, str] | None:
        """The rollout running on ``target`` in this process (id, execution, heading)."""
        rollout = self._running.get(target)
        if rollout is None:
            return None
        return rollout.rollout_id, rollout.execution_id, rollout.heading

    # starting ------------------------------------------------------------------------

    async def start(
        self,
        plans: Sequence[UpgradePlan],
        *,
        strategy: UpgradeStrategy,
        audit: Audit,
        details: dict[str, Any],
        tx: Transaction | None = None,
    ) -> list[Execution]:
        """Record one rollout per plan, in ``tx`` if given (``admission``'s), and launch
        them here once recorded if this instance leads (else the leader picks them up);
        return their executions."""
        audit = self.recorder.stamp(audit)
        started: list[tuple[Execution, _Rollout]] = []
        for plan in sorted(plans, key=lambda p: p.service):
            backend, service = await self.backends.resolve(plan.service)
            image, previous = str(plan.target), str(plan.current)
            record = {
                **details,
                "service": plan.service,
                "from": plan.current.familiar(),
                "to": plan.target.familiar(),
                "reason": plan.reason,
                "strategy": dataclasses.asdict(strategy),
                "phase": "rolling",
                "batches": [],
                "events": [],
            }
            predecessor = self._running.get(plan.service)
            verb = "rolling back" if plan.rollback_of is not None else "upgrading"
            message = f"{verb} {plan.service} from {show(previous)} to {show(image)}"
            if plan.rollback_of is not None:
                message += f" (revision {plan.rollback_of})"
            if predecessor is not None:
                record["supersedes"] = predecessor.execution_id
                message += (
                    f"; supersedes execution {predecessor.execution_id}, "
                    f"waiting for execution {predecessor.execution_id} to let go"
                )
            revision = RevisionDraft(
                change="image",
                image=plan.target.familiar(),
                previous_image=plan.current.familiar(),
                reason=plan.reason if plan.push is None else f"push: {plan.reason}",
                rollback_of=plan.rollback_of,
            )
            async with self.store.transaction(tx) as w:
                execution = await self.recorder.begin(
                    audit,
                    target=plan.service,
                    result="upgrading",
                    message=message,
                    details=record,
                    tx=w,
                    revision=revision,
                )
                rollout_id = await self.store.rollouts.add(
                    execution_id=execution.id,
                    target=plan.service,
                    image=image,
                    previous=previous,
                    strategy=dataclasses.asdict(strategy),
                    tx=w,
                )
                record = {**execution.details, "rollout_id": rollout_id}
                await self.store.executions.update(execution.id, details=record, tx=w)
            rollout = _Rollout(
                execution_id=execution.id,
                rollout_id=rollout_id,
                target=plan.service,
                backend=backend,
                service=service,
                image=image,
                previous=previous,
                strategy=strategy,
                details=record,
                audit=audit,
            )
            rollout.control.report = self._reporter(rollout)
            if tx is None:
                self._launch(rollout)
            else:  # the row is not visible before the commit: launch after it
                tx.on_commit(lambda rollout=rollout: self._launch(rollout))  # type: ignore[misc]
            log.info(
                "execution %d: rollout of %s started: %s",
                execution.id,
                plan.service,
                message,
                extra=rollout.fields("upgrading"),
            )
            started.append((execution, rollout))
        if len(started) > 1:
            siblings = [{"service": r.target, "execution_id": e.id} for e, r in started]
            for _execution, rollout in started:
                rollout.details["rollouts"] = siblings
        return [dataclasses.replace(e, details=dict(r.details)) for e, r in started]

    def _launch(self, rollout: _Rollout) -> None:
        """Run ``rollout`` here if this instance leads; else the leader picks it up."""
        if not self.leadership.leading:
            log.info("rollout of %s recorded; the leader runs it", rollout.target)
            return
        predecessor = self._running.get(rollout.target)
        if predecessor is not None:
            predecessor.superseded_by = rollout
            rollout.waits_for = [*predecessor.waits_for, predecessor.done]
            if predecessor.task is not None:
                predecessor.task.cancel()
        self._running[rollout.target] = rollout
        self._live[rollout.execution_id] = rollout
        self.recorder.metrics.rollouts_running.set(len(self._running))
        rollout.task = asyncio.create_task(self._run(rollout), name=f"rollout {rollout.target}")

    # running -------------------------------------------------------------------------

    async def _run(self, rollout: _Rollout) -> None:
        outcome: Result
        try:
            await self.store.rollouts.claim(rollout.rollout_id, self.leadership.instance)
        except StoreUnavailable as exc:  # not claimed: the next look picks it up again
            log.warning("cannot start the rollout of %s now: %s", rollout.target, exc.message)
            self._ended(rollout)
            return
        try:
            for future in rollout.waits_for:
                await asyncio.shield(future)
            if rollout.waits_for:
                await self._event(rollout, "the earlier rollout has stopped; starting")
            rolling_back = rollout.mode == "rollback"
            result = await rollout.backend.upgrade(
                service=rollout.service,
                image=rollout.heading,
                previous=None if rolling_back else rollout.previous,
                strategy=rollout.strategy,
                progress=lambda event: self._progress(rollout, event),
                control=rollout.control,
            )
            outcome, message = result.outcome, result.message
            if rolling_back and result.outcome == "upgraded":
                outcome = "rolled_back"
                if rollout.previous is not None:
                    message = f"rolled back to {show(rollout.previous)}"
            await self._finish(rollout, outcome, message)
        except asyncio.CancelledError:
            successor = rollout.superseded_by
            if successor is not None:
                await asyncio.shield(
                    self._finish(
                        rollout,
                        "superseded",
                        f"superseded by execution {successor.execution_id} "
                        f"({show(successor.image)}) after {rollout.batches} batch(es)",
                    )
                )
            else:
                await asyncio.shield(self._event(rollout, self._stop_reason))
        except ScalehookError as exc:
            await self._finish(rollout, "failed", exc.message)
        except Exception as exc:
            log.exception(
                "execution %d: rollout of %s failed",
                rollout.execution_id,
                rollout.target,
                extra=rollout.fields("failed"),
            )
            await self._finish(rollout, "failed", f"internal error ({type(exc).__name__})")
        finally:
            self._ended(rollout)

    def _ended(self, rollout: _Rollout) -> None:
        if not rollout.done.done():
            rollout.done.set_result(None)
        if self._running.get(rollout.target) is rollout:
            del self._running[rollout.target]
        self._live.pop(rollout.execution_id, None)
        self.recorder.metrics.rollouts_running.set(len(self._running))

    async def _progress(self, rollout: _Rollout, event: RolloutEvent) -> None:
        now = self.clock.now().isoformat()
        if event.phase == "rolling_back" and rollout.phase != "rolling_back":
            rollout.phase = "rolling_back"
            rollout.details["phase"] = "rolling_back"
            rollout.phase_saved = False
            rollout.control_saved = not rollout.control.rolling_back()
        if not rollout.phase_saved:
            try:
                await self.store.rollouts.set_phase(rollout.rollout_id, "rolling_back")
                rollout.phase_saved = True
            except StoreUnavailable as exc:
                log.warning("rollout of %s: phase not saved yet: %s", rollout.target, exc.message)
        if rollout.phase_saved and not rollout.control_saved:
            try:  # the rollback asked by hand is under way: the command is obeyed
                await self._keep_control(rollout)
                rollout.control_saved = True
            except StoreUnavailable as exc:
                log.warning("rollout of %s: control not saved yet: %s", rollout.target, exc.message)
        _count(rollout.details, event)
        if event.batch is not None:
            rollout.batches += 1
            rollout.details["batches"].append(
                {
                    "phase": event.phase,
                    "batch": event.batch,
                    "of": event.batches,
                    "replaced": list(event.replaced),
                    "started": list(event.started),
                    "ready": event.ready,
                    "at": now,
                }
            )
        verb = "rolling back" if rollout.phase == "rolling_back" else "upgrading"
        heading = show(rollout.heading)
        await self._event(
            rollout,
            event.message,
            result="rolling_back" if rollout.phase == "rolling_back" else "upgrading",
            message=f"{verb} {rollout.target} to {heading}: {event.message}",
        )

    async def _event(
        self,
        rollout: _Rollout,
        text: str,
        *,
        result: Result | None = None,
        message: str | None = None,
    ) -> None:
        _add_event(rollout.details, text, self.clock.now())
        try:
            await self.recorder.update(
                rollout.execution_id, details=rollout.details, result=result, message=message
            )
        except StoreUnavailable as exc:
            # The rollout goes on: the next write carries every event since.
            log.warning("rollout of %s: progress not saved: %s", rollout.target, exc.message)

    async def _finish(self, rollout: _Rollout, outcome: Result, message: str) -> None:
        back = rollout.details.get("rollback")
        if outcome == "upgraded" and isinstance(back, dict) and "revision" in back:
            message = f"back on revision {back['revision']}: {message}"
        if rollout.resumed:
            message += self._resumed_note(rollout)
        rollout.details["phase"] = "done"
        _add_event(rollout.details, f"{outcome}: {message}", self.clock.now())
        while True:  # the outcome must be kept: until the store answers, or this stops
            try:
                async with self.store.transaction() as tx:
                    await self.store.rollouts.set_phase(rollout.rollout_id, "done", tx=tx)
                    await self.recorder.finish(
                        rollout.execution_id,
                        rollout.audit,
                        result=outcome,
                        message=f"{rollout.target}: {message}",
                        details=rollout.details,
                        tx=tx,
                    )
                break
            except StoreUnavailable as exc:
                log.warning(
                    "rollout of %s ended %s, not yet recorded (retrying): %s",
                    rollout.target,
                    outcome,
                    exc.message,
                )
                await self.clock.sleep(RETRY_STORE)
        log.log(
            logging.WARNING if outcome in ("failed", "rolled_back") else logging.INFO,
            "execution %d: rollout of %s: %s: %s",
            rollout.execution_id,
            rollout.target,
            outcome,
            message,
            extra=rollout.fields(outcome),
        )

    def _resumed_note(self, rollout: _Rollout) -> str:
        if not self.store.shared:
            return " (resumed after scalehook restarted)"
        return f" (resumed by instance {self.leadership.instance})"

    # control by hand ---------------------------------------------------------------

    async def ask(self, rollout_id: RolloutId, asked: Asked, *, caller: str | None) -> None:
        """Pause, resume, cancel or roll back a running rollout; ``Conflict`` (409) says
        why not when it cannot be. A pause or resume asked again is answered as done."""
        record = await self.store.rollouts.get(rollout_id)
        if record.phase == "done":
            execution = await self.store.executions.get(record.execution_id)
            raise Conflict(
                f"rollout {rollout_id} of {record.target} is done ({execution.result}): "
                f"there is nothing to {asked}"
            )
        rollout = self._running.get(record.target)
        if rollout is not None and rollout.rollout_id < record.id:
            rollout = None  # a newer one recorded elsewhere, not picked up here yet
        if rollout is not None and rollout.rollout_id != record.id:
            raise Conflict(
                f"rollout {rollout_id} of {record.target} is being superseded by rollout "
                f"{rollout.rollout_id}: ask that one"
            )
        if rollout is None:
            raise Conflict(self._not_here(record))
        control = rollout.control
        refusal = None if asked == "resume" else control.refused.get(asked)
        if refusal is not None:
            raise Conflict(f"cannot {asked} rollout {rollout_id} now: {refusal}")
        who = f"by hand ({caller})" if caller else "by hand"
        if asked in ("pause", "resume"):
            if control.paused == (asked == "pause"):
                return
            if control.command is not None:
                raise Conflict(
                    f"rollout {rollout_id} is being "
                    f"{'cancelled' if control.command == 'cancel' else 'rolled back'}: "
                    f"there is nothing to {asked}"
                )
            if asked == "pause":
                control.pause()
                text = f"pause asked {who}: it holds once the batch under way is done"
            else:
                control.resume()
                text = f"resume asked {who}"
        else:
            command: Command = "cancel" if asked == "cancel" else "rollback"
            self._may_give(rollout, command)
            if control.command == command:
                return
            control.give(command)
            text = (
                f"cancel asked {who}: it stops now, each replica left on one version"
                if command == "cancel"
                else f"rollback asked {who}: it turns around now, to {show(str(rollout.previous))}"
            )
        await self._keep_control(rollout)
        await self._event(rollout, text)

    def _not_here(self, record: RolloutRecord) -> str:
        """Why a rollout not done is not steered here: which instance runs it."""
        head = f"rollout {record.id} of {record.target} is not running in this scalehook"
        if not self.store.shared:
            return f"{head}: it resumes in a moment, as scalehook picks up what it left"
        if self.leadership.leading:
            return (
                f"{head}: this instance leads and picks it up within a second "
                f"(instance {record.instance or 'none'} ran it last); ask again"
            )
        return (
            f"{head}, instance {self.leadership.instance}: another instance runs it (the "
            "leader, which runs every rollout); ask that one"
        )

    def _may_give(self, rollout: _Rollout, command: Command) -> None:
        ident = rollout.rollout_id
        if rollout.control.command not in (None, command):
            doing = "cancelled" if rollout.control.command == "cancel" else "rolled back"
            raise Conflict(f"rollout {ident} is being {doing} already")
        # A rollback asked already is one rolling back, whether or not the rollout has
        # turned yet: the answer must not depend on when the loop picks it up.
        turning = rollout.control.command == "rollback" or rollout.phase == "rolling_back"
        if command == "rollback" and (turning or rollout.previous is None):
            raise Conflict(f"rollout {ident} of {rollout.target} is rolling back already")

    async def _keep_control(self, rollout: _Rollout) -> None:
        """The pause and the command, in the rollout's row (a restart obeys them)."""
        control = rollout.control
        await self.store.rollouts.set_control(
            rollout.rollout_id, paused=control.paused, command=control.command
        )

    def _reporter(self, rollout: _Rollout) -> Callable[[str], Awaitable[None]]:
        async def report(text: str) -> None:
            await self._event(rollout, text)

        return report

    # what rollout control shows --------------------------------------------------------

    async def views(self, records: Sequence[RolloutRecord]) -> list[RolloutView]:
        """The rollouts as ``GET /v1/rollouts`` shows them: a running one with its
        control as this process knows it, and its service's replicas now."""
        now = self.clock.now()
        shown = []
        for record in records:
            execution = await self.store.executions.get(record.execution_id)
            rollout = self._running.get(record.target)
            mine = rollout is not None and rollout.rollout_id == record.id
            counts = Counts()
            if execution.status == "running":
                heading = rollout.heading if rollout is not None and mine else record.image
                counts = await self._counts(record.target, heading)
            shown.append(
                view(
                    record,
                    execution,
                    control=rollout.control.state() if rollout is not None and mine else None,
                    counts=counts,
                    now=now,
                )
            )
        return shown

    async def _counts(self, target: str, heading: str) -> Counts:
        """Ready and desired replicas of ``target``, and how many run ``heading`` (by
        name and tag); ``None`` for what cannot be read now."""
        try:
            backend, name = await self.backends.resolve(target)
            state = await backend.get_service(service=name)
            replicas = await backend.replicas(service=name)
        except ScalehookError:
            return Counts()
        on = sum(1 for r in replicas if r.image is not None and _same_tag(r.image, heading))
        return Counts(ready=state.ready, desired=state.desired, on_target=on)

    # restart and stop ----------------------------------------------------------------

    async def resume(self) -> list[asyncio.Future[None]]:
        """Run every unfinished rollout this process is not running: those a previous
        run, or a previous leader, left (finished or rolled back), and those recorded by
        another instance (started). Of several for one target, the newest runs and the
        older ones are closed as superseded. The futures say when each launched one is
        done. Only a leader launches anything."""
        launched: list[_Rollout] = []
        async with self._admission:  # no push is decided on here meanwhile
            if not self.leadership.leading:
                return []
            by_target: dict[str, list[RolloutRecord]] = {}
            for record in await self.store.rollouts.unfinished():
                if record.execution_id not in self._live:
                    by_target.setdefault(record.target, []).append(record)
            for target, records in by_target.items():
                running = self._running.get(target)
                latest = records[-1]  # oldest first
                newer = running is None or latest.execution_id > running.execution_id
                # The newest push wins: the latest record, or the rollout running here.
                winner = latest.execution_id if newer or running is None else running.execution_id
                for record in records:
                    if not (newer and record is latest):
                        await self._close_record(
                            record, "superseded", f"superseded by execution {winner}"
                        )
                if newer:
                    rollout = await self._resume(latest)
                    if rollout is not None:
                        launched.append(rollout)
        return [r.done for r in launched]

    async def _resume(self, record: RolloutRecord) -> _Rollout | None:
        execution = await self.store.executions.get(record.execution_id)
        try:
            backend, service = await self.backends.resolve(record.target)
            strategy = UpgradeStrategy(**record.strategy)
        except (ScalehookError, TypeError) as exc:
            reason = exc.message if isinstance(exc, ScalehookError) else str(exc)
            await self._close_record(record, "failed", f"cannot resume after a restart: {reason}")
            return None
        details = dict(execution.details)
        details.setdefault("batches", [])
        details.setdefault("events", [])
        mode: Mode = "rollback" if record.phase == "rolling_back" else "upgrade"
        resumed = record.instance is not None  # None: recorded by another instance, not begun
        rollout = _Rollout(
            execution_id=record.execution_id,
            rollout_id=record.id,
            target=record.target,
            backend=backend,
            service=service,
            image=record.image,
            previous=record.previous,
            strategy=strategy,
            details=details,
            audit=audit_of(execution),
            mode=mode,
            resumed=resumed,
            control=Steering(paused=record.paused, command=_command(record.command)),
        )
        rollout.control.report = self._reporter(rollout)
        if resumed:
            doing = "rolling back" if mode == "rollback" else "upgrading"
            if record.paused:
                doing += ", paused: it holds before its next batch until resumed"
            if record.command is not None:
                before = (
                    f"instance {record.instance} stopped" if self.store.shared else "the restart"
                )
                doing += f", then obeying the {record.command} asked before {before}"
            if self.store.shared:
                why = f"instance {record.instance} stopped running this rollout"
                note = f"resumed by instance {self.leadership.instance}"
            else:
                why = "scalehook restarted during this rollout"
                note = "resumed after scalehook restarted"
            await self._event(
                rollout,
                f"{why}; resuming ({doing})",
                result="rolling_back" if mode == "rollback" else "upgrading",
                message=f"{doing} {record.target} to {show(rollout.heading)}: {note}",
            )
            log.warning(
                "execution %d: resuming the rollout of %s (%s)",
                record.execution_id,
                record.target,
                doing,
                extra=rollout.fields("rolling_back" if mode == "rollback" else "upgrading"),
            )
        else:
            leader = self.leadership.instance
            await self._event(rollout, f"started by the leader, instance {leader}")
        self._launch(rollout)
        return rollout

    async def _close_record(self, record: RolloutRecord, outcome: Result, message: str) -> None:
        """End the record of a rollout that will not run again (not counted: it did not
        run in this process)."""
        execution = await self.store.executions.get(record.execution_id)
        details = dict(execution.details)
        details["phase"] = "done"
        details["events"] = list(details.get("events", []))
        _add_event(details, f"{outcome}: {message}", self.clock.now())
        await self.store.rollouts.set_phase(record.id, "done")
        await self.recorder.finish(
            record.execution_id,
            audit_of(execution),
            result=outcome,
            message=f"{record.target}: {message}",
            details=details,
            count=False,
        )

    async def stop(
        self, only: Sequence[asyncio.Future[None]] | None = None, *, reason: str = STOPPED
    ) -> None:
        """Stop every rollout (or those whose ``done`` futures are given) where it is;
        they stay recorded as running, to resume (``reason`` says why, in each)."""
        self._stop_reason = reason
        tasks = [
            r.task
            for r in self._live.values()
            if r.task is not None and not r.task.done() and (only is None or r.done in only)
        ]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)


def _command(text: str | None) -> Command | None:
    return "cancel" if text == "cancel" else "rollback" if text == "rollback" else None


def _same_tag(a: str, b: str) -> bool:
    """One repository and tag (an engine names the image by tag, without the digest)."""
    try:
        one, two = parse_image(a), parse_image(b)
    except InvalidImage:
        return a == b
    return (one.name, one.tag) == (two.name, two.tag)


def _count(details: dict[str, Any], event: RolloutEvent) -> None:
    """The batches done and planned in the phase under way, for rollout control."""
    progress = details.get("progress") or {}
    if progress.get("phase") != event.phase:
        progress = {"phase": event.phase, "done": 0, "total": None}
    if event.batches is not None:
        progress["total"] = max(event.batches, progress.get("total") or 0)
    if event.batch is not None:
        progress["done"] = max(event.batch, progress["done"])
    details["progress"] = progress


def _add_event(details: dict[str, Any], text: str, at: datetime) -> None:
    """Append a timestamped event to a rollout's details, keeping the last MAX_EVENTS."""
    events = details["events"]
    events.append({"at": at.isoformat(), "message": text})
    del events[:-MAX_EVENTS]


class ResumeRollouts:
    """The leader's loop of rollouts: it resumes what a previous run (or a previous
    leader) left unfinished, and starts what other instances recorded.

    While this instance leads it looks every ``interval`` seconds (the first time at
    once): every unfinished rollout not running here is finished or rolled back, or
    started. Should leadership be lost, every rollout of this instance stops where it
    is (each replica on one image or the other), still recorded as running, for the
    next leader to resume.
    """

    name = "rollouts"
    leader_only = True

    def __init__(self, rollouts: Rollouts, clock: Clock, interval: float = PICK_UP_EVERY) -> None:
        self.rollouts = rollouts
        self.clock = clock
        self.interval = interval

    async def run(self) -> None:
        try:
            await every(self.clock, self.interval, self._look)
        except asyncio.CancelledError:
            lost = not self.rollouts.leadership.leading
            await self.rollouts.stop(reason=LOST if lost else STOPPED)
            raise

    async def _look(self) -> None:
        # Never raise: while this loop waits to be restarted, leadership lost would
        # not stop the rollouts.
        try:
            await self.rollouts.resume()
        except StoreUnavailable as exc:
            log.warning("cannot look for rollouts to run: %s", exc.message)
        except Exception:
            log.exception("looking for rollouts to run failed")
