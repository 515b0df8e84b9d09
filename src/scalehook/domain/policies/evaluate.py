"""One evaluation of a policy: readings and history in, the count to set and why out.

``evaluate`` is pure (time comes in as ``now``, the readings from the loop's metric
sources) and never changes its arguments; it answers an ``Evaluation`` whose
``history`` is what to pass next time. In order:

1. Each metric proposes a count. Target metrics: HPA's replica calculation
   (``target.py``); thresholds: ``threshold.py``; schedules: a floor while their cron
   window is open (``cron.py``). A metric whose reading failed, is empty, NaN, negative
   or stale proposes nothing and is *failed*: never read as 0.
2. The largest proposal wins (HPA's ``computeReplicasForMetrics``). With a failed metric:
   if the others would scale up, they may (it is safe); otherwise the count holds
   (``on_error: hold``, HPA's "invalid metrics and a scale-down: skip"), and after
   ``failures`` evaluations in a row with a failed metric, ``{"fallback": N}`` goes to
   N, or to a healthy metric's higher proposal (KEDA's fallback; it works from 0 too).
   A held evaluation records no recommendation (as HPA's error path).
3. An open schedule raises the recommendation to its ``replicas``: recorded so, the end
   of its window lowers the count through the down window and rate rules like any
   other drop.
4. Behavior (``behavior.py``): stabilization windows, then rate rules and ``min``/``max``.
   A count outside ``min..max`` (scaled by hand) goes straight to the bound, as HPA.
5. The floor again, after the rate rules: inside its window a schedule's count is met
   at once (an operator's plan is not rate-limited), within ``max``.

A rollout in progress holds the count (recorded as held, with why), and leaves the
history as it was: the policy waits.

Scale from zero: at 0 replicas a per-replica metric has no replica to read, so it has
nothing to say (``cpu``, ``memory`` never wake a service, as KEDA's CPU and memory
triggers cannot). A service-wide value can: a Prometheus query, or the balancer's wake
signal, sent as ``Reading.value`` (the connections it holds for the service): desired =
ceil(value / target). Schedules and fallbacks work from 0. Because engine metrics cannot
wake a service, a policy with no metric that can (no prometheus, balancer or schedule)
never lets an engine metric propose 0 (it proposes 1 instead, with ``min`` 0 allowed);
a policy with one lets the service go to 0 and come back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from scalehook.domain.policies import behavior, threshold
from scalehook.domain.policies.cron import next_start, open_window
from scalehook.domain.policies.records import (
    Evaluation,
    History,
    MetricOutcome,
    Reading,
    ReplicaValue,
    Sample,
    usable,
    utc,
)
from scalehook.domain.policies.spec import (
    PolicySpec,
    ReadMetric,
    ScheduleMetric,
    TargetMetric,
    ThresholdMetric,
)
from scalehook.domain.policies.target import (
    Groups,
    Proposal,
    Tolerances,
    group,
    per_replica,
    service_wide,
)

__all__ = [
    "Evaluation",
    "History",
    "MetricOutcome",
    "Reading",
    "ReplicaValue",
    "Sample",
    "evaluate",
    "simulate",
    "stale_after",
]


def stale_after(spec: PolicySpec) -> float:
    """Seconds after which a replica's sample is too old to count (it counts as missing)."""
    return max(3 * spec.interval, 60.0)


@dataclass(frozen=True, slots=True)
class _Vote:
    name: str
    candidate: int
    held: str | None = None


@dataclass(frozen=True, slots=True)
class _Floor:
    name: str
    replicas: int
    until: str


@dataclass
class _Round:
    """What the metrics said, one by one (step 1)."""

    outcomes: list[MetricOutcome] = field(default_factory=list)
    votes: list[_Vote] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    floors: list[_Floor] = field(default_factory=list)
    streaks: dict[str, int] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)


def _read(
    spec: PolicySpec,
    readings: Mapping[str, Reading],
    history: History,
    *,
    current: int,
    now: datetime,
) -> _Round:
    tolerances = Tolerances(*spec.tolerances())
    heard = _Round()
    for metric in spec.metrics:
        if isinstance(metric, ScheduleMetric):
            outcome, floor = _schedule(metric, now=now, high=spec.max)
            heard.outcomes.append(outcome)
            heard.reasons.append(f"{metric.name}: {outcome.reason}")
            if floor is not None:
                heard.floors.append(floor)
            continue
        reading = readings.get(metric.name)
        if isinstance(metric, ThresholdMetric):
            streak = history.streaks.get(metric.name, 0)
            proposal, streak = _threshold(
                spec, metric, reading, current=current, now=now, streak=streak
            )
            if streak:
                heard.streaks[metric.name] = streak
        else:
            proposal = _target(
                spec, metric, reading, current=current, now=now, tolerances=tolerances
            )
        heard.outcomes.append(
            MetricOutcome(
                metric.name, proposal.value, proposal.candidate, proposal.reason, proposal.error
            )
        )
        if proposal.error is not None:
            heard.failed.append((metric.name, proposal.error))
        elif proposal.candidate is not None:
            heard.votes.append(_Vote(metric.name, proposal.candidate, proposal.held))
        heard.reasons.append(f"{metric.name}: {proposal.reason}")
    return heard


def evaluate(
    spec: PolicySpec,
    *,
    current: int,
    readings: Mapping[str, Reading],
    history: History,
    now: datetime,
    rollout_in_progress: bool = False,
) -> Evaluation:
    """The count ``spec`` wants for a service at ``current`` replicas, and why."""
    if current < 0:
        raise ValueError("a replica count cannot be negative")
    now = utc(now)
    heard = _read(spec, readings, history, current=current, now=now)
    outcomes, votes, failed, floors = heard.outcomes, heard.votes, heard.failed, heard.floors
    reasons = heard.reasons
    limited: list[str] = []

    failures = history.failures + 1 if failed else 0
    best = max(votes, key=lambda v: v.candidate) if votes else None  # first of the largest
    recommendation, winner, hold = _combine(
        spec,
        current=current,
        best=best,
        failed=failed,
        failures=failures,
        limited=limited,
        reasons=reasons,
    )
    floor = max(floors, key=lambda f: f.replicas) if floors else None
    if floor is not None and floor.replicas > recommendation and not hold:
        recommendation = floor.replicas
        winner = floor.name

    if rollout_in_progress:
        limited.append("rollout in progress")
        reasons.append(
            f"a rollout of {spec.service} is in progress: not scaled (the policy waits for it)"
        )
        return Evaluation(
            current,
            recommendation,
            current,
            tuple(outcomes),
            winner,
            tuple(limited),
            tuple(reasons),
            history.copy(),
        )

    next_history = History(
        recommendations=[(utc(t), n) for t, n in history.recommendations],
        scalings=[(utc(t), b, a) for t, b, a in history.scalings],
        failures=failures,
        streaks=heard.streaks,
        started=True,
    )
    if not history.started:
        # HPA's recordInitialRecommendation: what runs now is the first recommendation,
        # so a (re)started scalehook waits out the down window before a scale-down.
        next_history.recommendations.append((now, current))
    desired = _apply_behavior(
        spec,
        current=current,
        recommendation=recommendation,
        hold=hold,
        history=next_history,
        now=now,
        limited=limited,
        reasons=reasons,
    )
    if floor is not None:
        lifted = min(floor.replicas, spec.max)
        if lifted > desired:
            desired = lifted
            limited.append(f"schedule '{floor.name}'")
            reasons.append(
                f"schedule '{floor.name}' is open until {floor.until}: at least {lifted}"
            )
            winner = floor.name
    if best is not None and best.held is not None and winner == best.name and desired == current:
        limited.append(best.held)
    _prune(spec, next_history, now)
    reasons.append(_summary(current, desired))
    return Evaluation(
        current,
        recommendation,
        desired,
        tuple(outcomes),
        winner,
        tuple(limited),
        tuple(reasons),
        next_history,
    )


# -- step 1: what each metric says -------------------------------------------------------


def _target(
    spec: PolicySpec,
    metric: TargetMetric,
    reading: Reading | None,
    *,
    current: int,
    now: datetime,
    tolerances: Tolerances,
) -> Proposal:
    trouble = _trouble(reading)
    if trouble is not None:
        return Proposal(None, None, f"cannot be read: {trouble}", error=trouble)
    assert reading is not None
    if reading.value is not None:
        if not usable(reading.value):
            why = f"its value {reading.value} is not a count of load"
            return Proposal(None, None, f"cannot be read: {why}", error=why)
        return service_wide(metric, reading.value, current=current, tolerances=tolerances)
    replicas = reading.replicas or ()
    if current == 0:
        return Proposal(None, None, _nothing_at_zero(metric))
    if not replicas:
        why = f"no replica reported a sample (the service has {current})"
        return Proposal(None, None, f"cannot be read: {why}", error=why)
    groups = _group(spec, metric, replicas, now)
    proposal = per_replica(metric, groups, current=current, tolerances=tolerances)
    if proposal.candidate == 0 and metric.source == "engine" and not spec.can_wake:
        return Proposal(
            1,
            proposal.value,
            f"{proposal.reason}; but {metric.metric} cannot wake a service at 0 and no other "
            "metric can: 1",
        )
    return proposal


def _threshold(
    spec: PolicySpec,
    metric: ThresholdMetric,
    reading: Reading | None,
    *,
    current: int,
    now: datetime,
    streak: int,
) -> tuple[Proposal, int]:
    trouble = _trouble(reading)
    if trouble is not None:
        return Proposal(None, None, f"cannot be read: {trouble}", error=trouble), 0
    assert reading is not None
    if reading.value is not None:
        if not usable(reading.value):
            why = f"its value {reading.value} is not a count of load"
            return Proposal(None, None, f"cannot be read: {why}", error=why), 0
        value = reading.value
    else:
        replicas = reading.replicas or ()
        if current == 0:
            return Proposal(None, None, _nothing_at_zero(metric)), 0
        if not replicas:
            why = f"no replica reported a sample (the service has {current})"
            return Proposal(None, None, f"cannot be read: {why}", error=why), 0
        groups = _group(spec, metric, replicas, now)
        if not groups.counted:
            why = f"no replica has a sample that counts ({groups.describe()})"
            return Proposal(None, None, f"cannot be read: {why}", error=why), 0
        value = sum(groups.counted) / len(groups.counted)
    decision = threshold.decide(metric, value, current=current, streak=streak)
    candidate = decision.candidate
    reason = decision.reason
    if candidate == 0 and metric.source == "engine" and not spec.can_wake:
        candidate = 1
        reason += f"; but {metric.metric} cannot wake a service at 0 and no other metric can: 1"
    return Proposal(candidate, value, reason), decision.streak


def _trouble(reading: Reading | None) -> str | None:
    if reading is None:
        return "no reading"
    if reading.error is not None:
        return reading.error
    if reading.value is None and reading.replicas is None:
        return "the reading is empty"
    return None


def _group(
    spec: PolicySpec, metric: ReadMetric, replicas: Sequence[ReplicaValue], now: datetime
) -> Groups:
    return group(
        metric,
        tuple(replicas),
        now=now,
        cpu_initialization=spec.cpu_initialization,
        stale_after=stale_after(spec),
    )


def _nothing_at_zero(metric: ReadMetric) -> str:
    if metric.source == "engine":
        return (
            f"the service has no replicas: {metric.metric} has nothing to read "
            "(it cannot wake a service from 0)"
        )
    return "the service has no replicas and no wake signal came: nothing to say"


def _schedule(
    metric: ScheduleMetric, *, now: datetime, high: int
) -> tuple[MetricOutcome, _Floor | None]:
    window = open_window(metric.parsed, metric.zone, metric.duration, now)
    if window is not None:
        replicas = min(metric.replicas, high)
        capped = f" (max {high})" if replicas < metric.replicas else ""
        reason = (
            f"window open since {_when(window.start, metric)} until {_when(window.end, metric)}: "
            f"at least {replicas}{capped}"
        )
        return (
            MetricOutcome(metric.name, None, replicas, reason),
            _Floor(metric.name, replicas, _when(window.end, metric)),
        )
    upcoming = next_start(metric.parsed, metric.zone, now)
    later = f"; the next opens {_when(upcoming, metric)}" if upcoming is not None else ""
    return MetricOutcome(metric.name, None, None, f"window closed{later}"), None


def _when(moment: datetime, metric: ScheduleMetric) -> str:
    local = moment.astimezone(metric.zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()} ({metric.timezone})"


# -- step 2: the metrics together --------------------------------------------------------


def _combine(
    spec: PolicySpec,
    *,
    current: int,
    best: _Vote | None,
    failed: list[tuple[str, str]],
    failures: int,
    limited: list[str],
    reasons: list[str],
) -> tuple[int, str | None, bool]:
    """(recommendation, winner, hold): hold means keep the count, skip behavior."""
    if not failed:
        if best is None:
            reasons.append(f"no metric has a count to propose: stays at {current}")
            return current, None, False
        return best.candidate, best.name, False
    names = ", ".join(f"'{name}'" for name, _ in failed)
    fallback = spec.on_error.fallback
    if fallback is not None and failures >= spec.on_error.failures:
        limited.append("fallback")
        in_row = f"{failures} evaluations in a row with {names} failed"
        if best is not None and best.candidate > fallback:
            reasons.append(
                f"{in_row}: fallback to {fallback}, but {best.name} asks for {best.candidate}"
            )
            return best.candidate, best.name, False
        reasons.append(f"{in_row}: fallback to {fallback}")
        return fallback, None, False
    if best is not None and best.candidate > current:
        reasons.append(
            f"{names} failed, but {best.name} asks for more ({best.candidate}): scaling up is safe"
        )
        return best.candidate, best.name, False
    for name, _ in failed:
        limited.append(f"metric '{name}' failed: hold")
    note = ""
    if fallback is not None:
        note = (
            f"; fallback to {fallback} after {spec.on_error.failures} such evaluations in a row "
            f"({failures} so far)"
        )
    reasons.append(
        f"{names} failed: the count holds at {current} (a metric that cannot be read never "
        f"lowers it){note}"
    )
    return current, None, True


# -- steps 4 and 5: behavior, bounds -----------------------------------------------------


def _apply_behavior(
    spec: PolicySpec,
    *,
    current: int,
    recommendation: int,
    hold: bool,
    history: History,
    now: datetime,
    limited: list[str],
    reasons: list[str],
) -> int:
    low, high = spec.min, spec.max
    clamped = min(max(current, low), high)
    if hold or clamped != current:
        if clamped != current:
            label = f"min {low}" if current < low else f"max {high}"
            limited.append(label)
            reasons.append(
                f"the service has {current}, outside min..max ({low}..{high}): {clamped}"
            )
        return clamped
    up, down = spec.behavior.up, spec.behavior.down
    stabilized = behavior.stabilize(
        current=current,
        recommendation=recommendation,
        recommendations=history.recommendations,
        now=now,
        up=up,
        down=down,
    )
    history.recommendations.append((now, recommendation))
    if stabilized.reason is not None:
        limited.append("stabilization")
        reasons.append(stabilized.reason)
    bounded = behavior.bound(
        current=current,
        wanted=stabilized.value,
        low=low,
        high=high,
        up=up,
        down=down,
        scalings=history.scalings,
        now=now,
    )
    if bounded.label is not None:
        limited.append(bounded.label)
    if bounded.reason is not None:
        reasons.append(bounded.reason)
    return bounded.value


def _prune(spec: PolicySpec, history: History, now: datetime) -> None:
    up, down = spec.behavior.up, spec.behavior.down
    keep = timedelta(seconds=max(up.stabilization, down.stabilization))
    history.recommendations = [(t, n) for t, n in history.recommendations if t > now - keep]
    period = timedelta(seconds=max(up.longest_period, down.longest_period))
    history.scalings = [s for s in history.scalings if s[0] > now - period]


def _summary(current: int, desired: int) -> str:
    if desired == current:
        return f"stays at {current}"
    return f"{'up' if desired > current else 'down'} from {current} to {desired}"


# -- simulate ----------------------------------------------------------------------------


def simulate(
    spec: PolicySpec,
    *,
    current: int,
    samples: Mapping[str, Sequence[Sample | Mapping[str, Any]]],
    now: datetime,
) -> Evaluation:
    """What ``spec`` would do now, from made-up samples; acts on nothing.

    ``samples`` per metric name: one per replica for a per-replica metric (engine,
    balancer), one for a service-wide one (prometheus); at 0 replicas a balancer metric's
    one sample is its wake signal. Replica ``i`` started ``age`` ago (None: long ago) and,
    if ready, has been ready since it started; its sample was taken now over one
    ``interval``. The policy is taken to have run before with nothing in its windows (a
    fresh history would hold any scale-down for the down window, see ``History.started``),
    so the answer is the count it aims for."""
    now = utc(now)
    readings: dict[str, Reading] = {}
    for metric in spec.read_metrics:
        given = samples.get(metric.name)
        if given is None:
            continue
        entries = [s if isinstance(s, Sample) else Sample.model_validate(s) for s in given]
        if not metric.per_replica or (current == 0 and metric.source == "balancer"):
            if len(entries) != 1:
                readings[metric.name] = Reading.failed(
                    metric.name, f"a service-wide value is one sample, not {len(entries)}"
                )
                continue
            value = entries[0].value
            readings[metric.name] = (
                Reading(metric.name, value=value)
                if value is not None
                else Reading.failed(metric.name, "the sample has no value")
            )
            continue
        replicas = []
        for index, entry in enumerate(entries):
            started = now - timedelta(seconds=entry.age) if entry.age is not None else None
            replicas.append(
                ReplicaValue(
                    replica=f"{metric.name}-{index}",
                    value=entry.value,
                    ready=entry.ready,
                    started_at=started,
                    ready_since=started if entry.ready else None,
                    sampled_at=now,
                    window=spec.interval,
                )
            )
        readings[metric.name] = Reading(metric.name, replicas=tuple(replicas))
    return evaluate(
        spec, current=current, readings=readings, history=History(started=True), now=now
    )
