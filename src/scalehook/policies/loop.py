"""The policy loop: every policy evaluated every ``interval`` and applied through the
executor (leader only).

One task schedules every policy. Due times sit on a grid of each policy's interval (a
new or changed policy is evaluated at once, then on the grid), so policies of one
interval fall due together: a wake evaluates all those due within ``SLACK`` as one
batch. A batch fetches each thing its metrics need once (a service's samples, one
PromQL query at one URL: ``sources/``), concurrently, and evaluates each policy as soon
as its own readings are in (``evaluate``, the pure rules). A policy whose evaluation or
action still runs when it falls due again is not evaluated twice: it waits for its next
due time.

When the desired count differs from the current one, the policy acts through
``executor.scale`` (driver ``policy``, the policy's name as receiver): the decision is
evaluated again inside ``decide``, under the service's lock, against the count read
there, so a hook and a policy on one service never race and the policy's min/max win.
A policy on a host group (``hosts``) counts the group's hosts and acts through
``executor.run`` on the group's target (``hosts/label=value``, the lock a scaleHost
receiver on it takes), deciding again there and growing or shrinking the group the way
such a receiver does (``host_groups.py``).
A service with a rollout in progress is not scaled (recorded once as ``held``); a
dry-run policy records ``dry_run`` once per count it would set; a paused one is not
evaluated. Evaluations that change nothing are kept in memory only (``state.py``), and
their values are in ``/metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
from collections.abc import Callable, Hashable
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from scalehook.backends import Backends, ServiceState
from scalehook.backends.base import Wakeable
from scalehook.domain.decisions import ScaleDecision
from scalehook.domain.host_plans import group_size
from scalehook.domain.hosts import Host
from scalehook.domain.policy_records import PolicyId, PolicyRecord
from scalehook.domain.scale_to_zero import idle_floor
from scalehook.errors import ScalehookError
from scalehook.executor import ActionResult, Executor
from scalehook.host_groups import GroupChange, scale_group
from scalehook.loops.clock import Clock
from scalehook.metrics import Metrics
from scalehook.policies.rules import (
    Evaluation,
    History,
    PolicySpec,
    Reading,
    down_stabilization,
    evaluate,
    longest_period,
    sources_of,
)
from scalehook.policies.sources import (
    GroupTarget,
    MetricSource,
    Scaled,
    SourceError,
    Target,
    hosts_key,
)
from scalehook.policies.state import (
    EvaluationRecord,
    PolicyState,
    Series,
    compact,
    evaluation_json,
    summary,
)
from scalehook.policies.validation import group_of, resolve_target
from scalehook.recording import Audit
from scalehook.store import Store

log = logging.getLogger(__name__)

SLACK = 0.05
"""Seconds: policies due this close together are evaluated in one batch."""
REFRESH = 5.0
"""Seconds between reads of the policies from the store (another instance's changes;
this instance's own are seen at once)."""
FETCH_TIMEOUT = 10.0
"""Seconds one fetch of a batch may take before it counts as failed."""
REMEMBER = 3600.0
"""Seconds of scale events kept for the rate rules (and read back at start), at least."""

_RESOLVE = "resolve"
_STATE = "state"


class PolicyLoop:
    name = "policies"
    leader_only = True

    def __init__(
        self,
        *,
        store: Store,
        executor: Executor,
        backends: Backends,
        metrics: Metrics,
        clock: Clock,
        sources: dict[str, MetricSource],
        refresh: float = REFRESH,
    ) -> None:
        self.store = store
        self.executor = executor
        self.backends = backends
        self.metrics = metrics
        self.clock = clock
        self.sources = sources
        self.refresh = refresh
        self.running = False
        self._states: dict[PolicyId, PolicyState] = {}
        self._changed = asyncio.Event()
        self._sleeper: asyncio.Task[Any] | None = None  # the scheduler, while it sleeps
        self._poked = False  # its sleep was cut short by ``changed``
        self._batches: set[asyncio.Task[None]] = set()
        self._version: tuple[int, int, datetime | None] | None = None

    # what the API asks ------------------------------------------------------------------

    def changed(self) -> None:
        """A policy was created, changed or deleted here: read them again now."""
        self._changed.set()
        if self._sleeper is not None and not self._poked:
            self._poked = True
            self._sleeper.cancel()

    def evaluations(self, policy: PolicyId) -> list[dict[str, Any]] | None:
        """The policy's last evaluations, newest first; None when this instance does
        not evaluate policies now (it does not lead)."""
        if not self.running:
            return None
        state = self._states.get(policy)
        if state is None:
            return []
        return [e.to_json() for e in reversed(state.evaluations)]

    # running ----------------------------------------------------------------------------

    async def run(self) -> None:
        self.running = True
        wakeable = [b for b in self.backends if isinstance(b, Wakeable)]
        for backend in wakeable:
            backend.on_wake(self._waker(backend.name))
        try:
            await self._reload(start=True)
            await self._schedule()
        finally:
            self.running = False
            for backend in wakeable:
                backend.on_wake(None)
            for task in list(self._batches):
                task.cancel()
            if self._batches:
                await asyncio.gather(*self._batches, return_exceptions=True)
            for source in self.sources.values():
                with contextlib.suppress(Exception):
                    await source.close()
            for state in self._states.values():
                self.metrics.forget_policy(state.name, state.metric_names)
            self._states.clear()

    async def _schedule(self) -> None:
        refresh_at = self.clock.monotonic() + self.refresh
        while True:
            now = self.clock.monotonic()
            if self._changed.is_set() or now >= refresh_at:
                asked = self._changed.is_set()
                self._changed.clear()
                await self._reload(check=not asked)
                refresh_at = self.clock.monotonic() + self.refresh
                now = self.clock.monotonic()
            due: list[PolicyState] = []
            for state in self._states.values():
                if state.due > now + SLACK:
                    continue
                interval = max(float(state.spec.interval), 0.001)
                state.due = (math.floor(now / interval) + 1) * interval
                if not state.busy and not state.spec.paused:
                    due.append(state)
            if due:
                task = asyncio.create_task(
                    self._batch(due, self.clock.now()), name="policies batch"
                )
                self._batches.add(task)
                task.add_done_callback(self._batches.discard)
            wake = min((s.due for s in self._states.values()), default=refresh_at)
            await self._sleep_until(min(wake, refresh_at))

    async def _sleep_until(self, when: float) -> None:
        """Sleep on the clock until ``when``; ``changed`` cuts the sleep short (it
        cancels this task's sleep, and only that: a cancel from outside still stops)."""
        task = asyncio.current_task()
        assert task is not None
        self._sleeper = task
        try:
            await self.clock.sleep(when - self.clock.monotonic())
        except asyncio.CancelledError:
            if not self._poked or task.uncancel() > 0:
                raise
        finally:
            self._sleeper = None
            self._poked = False

    async def quiet(self) -> None:
        """Return once no batch of evaluations runs (for tests and benchmarks)."""
        while self._batches:
            await asyncio.gather(*self._batches, return_exceptions=True)

    # the policies, from the store --------------------------------------------------------

    async def _reload(self, *, start: bool = False, check: bool = False) -> None:
        """Take in the policies as the store holds them; with ``check``, only if their
        count, highest id or last change moved (another instance changed them)."""
        try:
            if check:
                version = await self.store.policies.version()
                if version == self._version:
                    return
            self._version = await self.store.policies.version()
            records = await self.store.policies.all()
        except Exception:
            log.exception("cannot read the policies; keeping the ones known")
            return
        now = self.clock.now()
        seen: set[PolicyId] = set()
        for record in records:
            seen.add(record.id)
            known = self._states.get(record.id)
            if known is not None and known.record.updated_at == record.updated_at:
                continue
            spec = _spec(record)
            if spec is None:
                continue
            if known is None:
                self._states[record.id] = PolicyState(
                    record=record,
                    spec=spec,
                    first_seen=now,
                    due=self.clock.monotonic(),
                    metric_names=tuple(m.name for m in spec.metrics),
                )
                continue
            if known.name != spec.name or known.metric_names != tuple(m.name for m in spec.metrics):
                self.metrics.forget_policy(known.name, known.metric_names)
                known.series = None
            known.keys = None  # planned again from the new spec
            if known.spec.target != spec.target:
                known.target = None
                known.history = History()
            known.record, known.spec = record, spec
            known.metric_names = tuple(m.name for m in spec.metrics)
            known.dry_run_at = known.held_at = None
            known.due = self.clock.monotonic()  # changed: evaluated at once
        for gone in set(self._states) - seen:
            state = self._states.pop(gone)
            self.metrics.forget_policy(state.name, state.metric_names)
        if start:
            await self._remember_scalings(now)

    async def _remember_scalings(self, now: datetime) -> None:
        """The policies' scale events the rate rules still count, from the audit trail:
        a restart or a new leader does not allow a burst past them."""
        if not self._states:
            return
        back = max(REMEMBER, *(longest_period(s.spec) for s in self._states.values()))
        try:
            executions = await self.store.executions.scalings(
                driver="policy", since=now - timedelta(seconds=back)
            )
        except Exception:
            log.exception("cannot read the policies' past scale events")
            return
        by_name = {s.name: s for s in self._states.values()}
        for execution in executions:
            state = by_name.get(execution.receiver_name or "")
            if state is None or execution.before is None or execution.after is None:
                continue
            state.history.scalings.append((execution.started_at, execution.before, execution.after))

    # a batch ---------------------------------------------------------------------------

    async def _batch(self, states: list[PolicyState], now: datetime) -> None:
        """Evaluate ``states`` as of ``now`` (when they fell due)."""
        for state in states:
            state.busy = True
        acting: list[asyncio.Task[None]] = []
        try:
            await self._resolve([s for s in states if s.target is None], now)
            results: dict[Hashable, object] = {}
            shared: dict[Hashable, Reading] = {}  # readings that policies share
            waiting: dict[Hashable, list[PolicyState]] = {}
            pending: dict[int, int] = {}
            tasks: dict[asyncio.Task[object], Hashable] = {}
            for state in states:
                if state.target is None:
                    state.busy = False
                    continue
                keys = state.keys or self._plan(state, state.target)
                pending[id(state)] = len(keys)
                for key, (source, target) in keys.items():
                    waiting.setdefault(key, []).append(state)
                    if key not in results:
                        task = asyncio.ensure_future(self._fetch(source, key, target))
                        tasks[task] = key
                        results[key] = None
            while tasks:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    key = tasks.pop(task)
                    results[key] = task.result()
                    for state in waiting.pop(key, []):
                        pending[id(state)] -= 1
                        if pending[id(state)] == 0:
                            action = self._evaluate(state, results, shared, now)
                            if action is not None:
                                acting.append(asyncio.create_task(action))
            if acting:
                await asyncio.gather(*acting, return_exceptions=True)
        except asyncio.CancelledError:
            for task in acting:
                task.cancel()
            raise
        finally:
            for state in states:
                state.busy = False

    async def _resolve(self, states: list[PolicyState], now: datetime) -> None:
        """Find the services (or host groups) of policies that have none yet (each
        service name once)."""
        services = {s.spec.service for s in states if s.spec.service is not None}
        found = await asyncio.gather(
            *(resolve_target(self.backends, s) for s in services), return_exceptions=True
        )
        targets = dict(zip(services, found, strict=True))
        for state in states:
            target: Scaled | BaseException
            if state.spec.service is not None:
                target = targets[state.spec.service]
            else:
                try:
                    target = group_of(state.spec, self.executor.hosts)
                except ScalehookError as exc:
                    target = exc
            if isinstance(target, Target | GroupTarget):
                state.target, state.keys = target, None
                continue
            text = target.message if isinstance(target, ScalehookError) else repr(target)
            if state.spec.service is not None:
                text = f"service: {text}"  # a host group's error names hosts already
            state.keep(EvaluationRecord(now, "error", text))

    def _plan(
        self, state: PolicyState, target: Scaled
    ) -> dict[Hashable, tuple[MetricSource | None, Scaled]]:
        """What the policy's evaluations fetch (kept until its spec or service changes):
        the service's state (or the group's hosts, which the capacity source reads too),
        and each sourced metric's key."""
        keys: dict[Hashable, tuple[MetricSource | None, Scaled]] = {
            _state_key(target): (None, target)
        }
        plan = []
        for _, metric in sources_of(state.spec):
            source = self.sources[metric.source]
            key = source.key(metric, target)
            keys[key] = (source, target)
            plan.append((source, metric, key))
        state.keys, state.plan = keys, plan
        return keys

    async def _fetch(self, source: MetricSource | None, key: Hashable, target: Scaled) -> object:
        """What ``key`` names, or the error that stopped it (as a ``SourceError``)."""
        try:
            async with asyncio.timeout(FETCH_TIMEOUT):
                if source is None:
                    return await _state(target)
                return await source.fetch(key, target)
        except SourceError as exc:
            return exc
        except ScalehookError as exc:
            return SourceError(exc.message)
        except TimeoutError:
            return SourceError(f"no answer within {FETCH_TIMEOUT:g}s")
        except Exception as exc:
            log.exception("reading %s failed", key)
            return SourceError(f"{type(exc).__name__}: {exc}")

    # one policy ------------------------------------------------------------------------

    def _evaluate(
        self,
        state: PolicyState,
        results: dict[Hashable, object],
        shared: dict[Hashable, Reading],
        now: datetime,
    ) -> Any:
        """Evaluate one policy from the batch's results; return the coroutine of its
        action when it must act (None when it need not)."""
        target = state.target
        assert target is not None
        service = _counted(target, results.get(_state_key(target)))
        if not isinstance(service, ServiceState | GroupCount):
            why = service.message if isinstance(service, SourceError) else "not read"
            state.keep(EvaluationRecord(now, "error", f"cannot read {target.ref}: {why}"))
            state.target = state.keys = None  # resolved again next time: it may have moved
            state.busy = False
            return None
        readings, activity = self._readings(state, results, shared)
        try:
            evaluation = self._decide(state, service, readings, activity, now)
        except Exception as exc:  # the rules must never stop the loop
            log.exception("evaluating policy %s failed", state.name)
            state.keep(EvaluationRecord(now, "error", f"evaluation failed: {exc}"))
            state.busy = False
            return None
        self._observe(state, evaluation)
        current = service.desired
        if evaluation.desired == current:
            state.history = evaluation.history
            state.dry_run_at = None
            if self.executor.rollouts.heading(target.ref) is not None and (
                _bounded(state.spec, evaluation.recommendation) != current
            ):
                return self._held(state, target, evaluation, now)
            state.held_at = None
            state.keep(EvaluationRecord(now, "none", "", evaluation))
            state.busy = False
            return None
        if state.spec.dry_run:
            state.history = evaluation.history
            if state.dry_run_at == evaluation.desired:
                state.keep(
                    EvaluationRecord(now, "dry_run", summary(evaluation) + " (recorded before)",
                                     evaluation),
                )  # fmt: skip
                state.busy = False
                return None
            return self._apply(state, readings, activity, now, dry_run=True)
        return self._apply(state, readings, activity, now, dry_run=False)

    def _readings(
        self, state: PolicyState, results: dict[Hashable, object], shared: dict[Hashable, Reading]
    ) -> tuple[dict[str, Reading], Activity]:
        """Each sourced metric's reading, and the last connection its balancer metrics
        saw."""
        readings: dict[str, Reading] = {}
        activity = Activity()
        for source, metric, key in state.plan:
            fetched = results.get(key)
            if isinstance(fetched, SourceError) or fetched is None:
                why = fetched.message if isinstance(fetched, SourceError) else "not read"
                readings[metric.name] = Reading(name=metric.name, error=why)
                self.metrics.policy_errors.labels(state.name, metric.name).inc()
                continue
            try:
                known = shared.get((key, source.shape(metric)))
                if known is None:
                    known = shared[(key, source.shape(metric))] = source.reading(metric, fetched)
                if known.name != metric.name:
                    known = Reading(metric.name, known.replicas, known.value, known.error)
                readings[metric.name] = known
            except Exception as exc:
                log.exception("reading %s of policy %s failed", metric.name, state.name)
                readings[metric.name] = Reading(name=metric.name, error=f"{exc}")
                continue
            if source.name == "balancer":
                activity = activity.seen(source.activity(fetched))
        return readings, activity

    def _decide(
        self,
        state: PolicyState,
        service: ServiceState | GroupCount,
        readings: dict[str, Reading],
        activity: Activity,
        now: datetime,
    ) -> Evaluation:
        """The rules' evaluation against ``service``'s count now, with the idle rule of
        scale to zero."""
        evaluation = evaluate(
            state.spec,
            current=service.desired,
            readings=readings,
            history=state.history,
            now=now,
            rollout_in_progress=self.executor.rollouts.heading(service.ref) is not None,
        )
        compact(evaluation.history)
        if activity.reads_balancer:
            floor, why = idle_floor(
                desired=evaluation.desired,
                current=service.desired,
                last_connection=activity.last,
                idle_since=state.first_seen,
                stabilization=down_stabilization(state.spec),
                now=now,
            )
            if why is not None:
                evaluation = dataclasses.replace(
                    evaluation,
                    desired=floor,
                    limited_by=(*evaluation.limited_by, "idle"),
                    reasons=(*evaluation.reasons, why),
                )
        return evaluation

    async def _apply(
        self,
        state: PolicyState,
        readings: dict[str, Reading],
        activity: Activity,
        now: datetime,
        *,
        dry_run: bool,
    ) -> None:
        """Scale through the executor; decided again under the service's lock."""
        decided: list[Evaluation] = []

        def decide(service: ServiceState | GroupCount) -> ScaleDecision:
            evaluation = self._decide(state, service, readings, activity, now)
            decided.append(evaluation)
            moves = evaluation.desired != service.desired
            message = summary(evaluation) if moves else (
                f"already at {service.desired}: the count changed meanwhile"
            )  # fmt: skip
            return ScaleDecision(
                before=service.desired,
                after=evaluation.desired,
                result="scaled" if moves else "noop",
                message=f"policy {state.name}: {message}",
                details={"policy": state.name, **evaluation_json(evaluation)},
            )

        audit = Audit(driver="policy", receiver_name=state.name, dry_run=dry_run)
        target = state.target
        try:
            if isinstance(target, GroupTarget):
                execution = await self.executor.run(
                    target=target.ref,
                    action=lambda: self._resize(state, target, decide, dry_run=dry_run),
                    audit=audit,
                )
            else:
                execution = await self.executor.scale(
                    service=state.spec.target, decide=decide, audit=audit
                )
        except ScalehookError as exc:
            evaluation = decided[-1] if decided else None
            if evaluation is not None:
                state.history = evaluation.history  # no scale event: it failed
            state.keep(
                EvaluationRecord(
                    now, "failed", f"scaling failed: {exc.message}", evaluation, exc.execution_id
                ),
            )
            return
        finally:
            state.busy = False
        evaluation = decided[-1]
        state.history = evaluation.history
        if dry_run:
            state.dry_run_at = evaluation.desired
            action = "dry_run"
        elif execution.before is not None and execution.after != execution.before:
            state.history = evaluation.history.scaled(now, execution.before, evaluation.desired)
            action = "scaled"
        else:
            action = "noop"
        state.keep(EvaluationRecord(now, action, execution.message, evaluation, execution.id))

    async def _resize(
        self,
        state: PolicyState,
        group: GroupTarget,
        decide: Callable[[GroupCount], ScaleDecision],
        *,
        dry_run: bool,
    ) -> ActionResult:
        """Under the group's lock: count its hosts, decide again, and grow or shrink it
        as a scaleHost receiver would (clones of its oldest host; the safest removed
        first, drained), from the one listing made here."""
        everything = await group.hosts.list()
        hosts_now = [h for h in everything if group.selector.matches(h.labels)]
        decision = decide(GroupCount(group.ref, group_size(hosts_now)))
        if decision.result != "scaled":
            return ActionResult(
                decision.result, decision.message, decision.before, decision.after,
                dict(decision.details),
            )  # fmt: skip
        hosts = state.spec.hosts
        assert hosts is not None
        change = GroupChange(
            action="up" if decision.after > decision.before else "down",
            amount=abs(decision.after - decision.before),
            min=state.spec.min,
            max=state.spec.max,
            remove_policy=hosts.remove_policy,
            drain_timeout=float(hosts.drain_timeout),
        )
        done = await scale_group(
            group.hosts, change, group.selector, dry_run=dry_run, listed=everything
        )
        return dataclasses.replace(
            done,
            message=f"{decision.message}; {done.message}",
            details={**decision.details, **done.details},
        )

    async def _held(
        self, state: PolicyState, target: Scaled, evaluation: Evaluation, now: datetime
    ) -> None:
        """A rollout runs on the service: record once that the policy holds, and why."""
        try:
            wanted = _bounded(state.spec, evaluation.recommendation)
            message = (
                f"policy {state.name}: held at {evaluation.current}: a rollout runs on "
                f"{target.ref} (it would scale to {wanted})"
            )
            execution_id = None
            if state.held_at != wanted:
                execution = await self.executor.record(
                    Audit(driver="policy", receiver_name=state.name, dry_run=state.spec.dry_run),
                    target=target.ref,
                    result="held",
                    message=message,
                    before=evaluation.current,
                    after=evaluation.current,
                    details={"policy": state.name, "would": wanted, **evaluation_json(evaluation)},
                )
                state.held_at, execution_id = wanted, execution.id
            state.keep(EvaluationRecord(now, "held", message, evaluation, execution_id))
        finally:
            state.busy = False

    def _observe(self, state: PolicyState, evaluation: Evaluation) -> None:
        """The evaluation's figures in ``/metrics`` (each series' child kept per policy:
        looking a child up by its labels costs more than setting it)."""
        series = state.series
        if series is None:
            metrics = self.metrics
            series = state.series = Series(
                metrics.policy_evaluations.labels(state.name),
                metrics.policy_desired.labels(state.name),
            )
        series.evaluations.inc()
        series.desired.set(evaluation.desired)
        for outcome in evaluation.metrics:
            child = series.values.get(outcome.name)
            if outcome.value is None:
                if child is not None:
                    del series.values[outcome.name]
                    with contextlib.suppress(KeyError):
                        self.metrics.policy_value.remove(state.name, outcome.name)
            elif child is None:
                child = self.metrics.policy_value.labels(state.name, outcome.name)
                series.values[outcome.name] = child
                child.set(outcome.value)
            else:
                child.set(outcome.value)

    # waking from zero ------------------------------------------------------------------

    def _waker(self, backend: str) -> Any:
        async def wake(service: str) -> bool:
            return await self.wake(f"{backend}/{service}")

        return wake

    async def wake(self, ref: str) -> bool:
        """A connection arrived for ``ref`` at zero replicas: start one replica through
        the first live policy on it (by name). False when no policy may wake it."""
        candidates = sorted(
            (
                s
                for s in self._states.values()
                if s.target is not None and s.target.ref == ref and not s.spec.paused
            ),
            key=lambda s: s.name,
        )
        if not candidates:
            return False
        state = candidates[0]
        spec = state.spec
        wanted = min(max(1, spec.min), spec.max)
        if wanted < 1:
            return False
        now = self.clock.now()

        def decide(service: ServiceState) -> ScaleDecision:
            if service.desired > 0:
                return ScaleDecision(
                    service.desired,
                    service.desired,
                    "noop",
                    f"policy {state.name}: woken by a connection, already at {service.desired}",
                    {"policy": state.name, "woken": True},
                )
            return ScaleDecision(
                0,
                wanted,
                "scaled",
                f"policy {state.name}: woken by a connection: {ref} from 0 to {wanted}",
                {"policy": state.name, "woken": True},
            )

        audit = Audit(driver="policy", receiver_name=state.name, dry_run=spec.dry_run)
        try:
            execution = await self.executor.scale(service=ref, decide=decide, audit=audit)
        except ScalehookError as exc:
            state.keep(
                EvaluationRecord(now, "failed", f"waking failed: {exc.message}", None,
                                 exc.execution_id),
            )  # fmt: skip
            return False
        if not spec.dry_run and execution.before == 0 and (execution.after or 0) > 0:
            state.history.scalings.append((now, 0, execution.after or 0))
        state.first_seen = now
        state.keep(EvaluationRecord(now, "woken", execution.message, None, execution.id))
        return not spec.dry_run


@dataclasses.dataclass(frozen=True, slots=True)
class Activity:
    """What a policy's balancer metrics say of the service's last connection."""

    reads_balancer: bool = False
    last: datetime | None = None

    def seen(self, last: datetime | None) -> Activity:
        if self.last is None or (last is not None and last > self.last):
            return Activity(True, last)
        return Activity(True, self.last)


@dataclasses.dataclass(frozen=True, slots=True)
class GroupCount:
    """A host group's size now: what a host-group policy's count is compared to."""

    ref: str
    desired: int


def _state_key(target: Scaled) -> Hashable:
    """The key of what a policy's count is read from: the service's state, or the
    group's hosts (the key the capacity source reads them by: one listing a batch)."""
    return hosts_key(target) if isinstance(target, GroupTarget) else (_STATE, target.ref)


async def _state(target: Scaled) -> ServiceState | list[Host]:
    """The service's state, or the host group's hosts."""
    if isinstance(target, GroupTarget):
        return await target.hosts.list(target.selector)
    return await target.backend.get_service(service=target.name)


def _counted(target: Scaled, fetched: object) -> object:
    """What was fetched for the count, a group's hosts as its size (its hosts not in
    error); anything else (a service's state, an error) as it is."""
    if isinstance(target, GroupTarget) and isinstance(fetched, list):
        return GroupCount(target.ref, group_size(fetched))
    return fetched


def _spec(record: PolicyRecord) -> PolicySpec | None:
    try:
        return PolicySpec.model_validate(record.body)
    except ValidationError as exc:
        log.error("policy %s cannot be read and is not evaluated: %s", record.name, exc)
        return None


def _bounded(spec: PolicySpec, count: int) -> int:
    return min(max(count, spec.min), spec.max)
