"""Target value: how many replicas keep each one at the target (HPA's replica calculation).

A port of ``kubernetes/kubernetes: pkg/controller/podautoscaler/replica_calculator.go``
(``GetResourceReplicas``, ``calcPlainMetricReplicas``, ``groupPods``,
``GetExternalPerPodMetricReplicas``), in the version with per-direction tolerances
(``Tolerances.isWithin``: no change while ``1 - down <= ratio <= 1 + up``).

Per-replica metrics (``per_replica``):

1. Group the replicas (``group``). A replica without a usable sample is *missing*. For
   ``cpu`` only, a sample is *set aside* when the replica is not ready, or when, within
   ``cpu_initialization`` of its start, it was taken before the replica had been ready
   for one sample window (``groupPods``: ``metric.Timestamp.Before(
   condition.LastTransitionTime.Add(metric.Window))``) — start-up CPU is not load.
   Readiness does not matter for other metrics (HPA counts an unready pod's custom
   metric: ``TestReplicaCalcScaleUpCMUnreadyHotCpuNoLessScale``).
2. ratio = average of the counted samples / target. With nothing missing and nothing
   set aside (or set aside but ratio <= 1): within tolerance → current, else
   ``ceil(ratio * counted)``.
3. Otherwise fill in, conservatively: missing replicas count as 0 on a scale-up and, on a
   scale-down, as ``max(100, target)`` % for cpu and memory in percent (100 % of a core
   or limit, or the target when it is higher: ``fallbackUtilization``) or as the target
   for the others (``calcPlainMetricReplicas``); set-aside replicas count as 0 on a
   scale-up (on a scale-down they stay out). If the new ratio is within tolerance or
   points the other way, hold (current); else ``ceil(new ratio * replicas in it)``,
   unless that count moves against the ratio (more replicas for a ratio below 1: a
   rollout's surge), then hold too.

Differences from HPA, all on purpose:

- Values are per replica in the metric's unit, so the average is unweighted (HPA sums
  usage and requests, weighting by request) and not truncated to a whole percent.
- A cpu sample of a replica that is not ready is always set aside; HPA keeps it after
  the initialization period when the pod had been ready before (it knows when readiness
  last changed; our backends say only since when a replica is ready).
- A replica whose start time is unknown is taken to be past its initialization.
- A sample older than ``stale_after`` counts as missing.
- ``ceil`` ignores float noise below 1e-9 (0.7 * 10 is 7, not 8).

Service-wide values (``service_wide``: prometheus, a balancer's wake signal): KEDA's
AverageValue, HPA's ``GetExternalPerPodMetricReplicas``: ratio = value / (target *
current); within tolerance → current, else ``ceil(value / target)``. At 0 replicas:
``ceil(value / target)`` (0 stays 0), as HPA's ``getUsageRatioReplicaCount`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from scalehook.domain.policies.records import ReplicaValue, usable, utc
from scalehook.domain.policies.spec import ReadMetric, TargetMetric, ceil


@dataclass(frozen=True, slots=True)
class Tolerances:
    up: float
    down: float

    def within(self, ratio: float) -> bool:
        return 1.0 - self.down <= ratio <= 1.0 + self.up


@dataclass(frozen=True, slots=True)
class Groups:
    """Replicas by how their sample counts: counted values, missing, set aside (why)."""

    counted: tuple[float, ...] = ()
    missing: tuple[str, ...] = ()
    set_aside: tuple[tuple[str, str], ...] = ()  # (replica, why)

    def describe(self) -> str:
        parts = [f"{len(self.counted)} counted"]
        if self.missing:
            parts.append(f"{len(self.missing)} without a sample")
        whys: dict[str, int] = {}
        for _, why in self.set_aside:
            whys[why] = whys.get(why, 0) + 1
        parts.extend(f"{count} set aside ({why})" for why, count in whys.items())
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Proposal:
    """A metric's count. ``candidate`` None with no ``error``: nothing to say."""

    candidate: int | None
    value: float | None
    reason: str
    error: str | None = None
    held: str | None = None  # "tolerance" or "missing samples": why candidate == current
    notes: tuple[str, ...] = field(default=())


def group(
    metric: ReadMetric,
    replicas: tuple[ReplicaValue, ...],
    *,
    now: datetime,
    cpu_initialization: float,
    stale_after: float,
) -> Groups:
    """HPA's ``groupPods`` for our replicas (see the module docstring)."""
    counted: list[float] = []
    missing: list[str] = []
    aside: list[tuple[str, str]] = []
    cpu = metric.metric == "cpu"
    initialization = timedelta(seconds=cpu_initialization)
    for replica in replicas:
        sampled = utc(replica.sampled_at) if replica.sampled_at is not None else None
        if not usable(replica.value) or (
            sampled is not None and (now - sampled).total_seconds() > stale_after
        ):
            missing.append(replica.replica)
            continue
        if cpu:
            why = _cpu_set_aside(replica, sampled, now, initialization)
            if why is not None:
                aside.append((replica.replica, why))
                continue
        assert replica.value is not None
        counted.append(replica.value)
    return Groups(tuple(counted), tuple(missing), tuple(aside))


def _cpu_set_aside(
    replica: ReplicaValue, sampled: datetime | None, now: datetime, initialization: timedelta
) -> str | None:
    if not replica.ready:
        return "not ready"
    if replica.started_at is None:
        return None
    started = utc(replica.started_at)
    if now >= started + initialization:
        return None
    since = utc(replica.ready_since) if replica.ready_since is not None else started
    if sampled is None:
        return "starting, sampled at an unknown time"
    if sampled < since + timedelta(seconds=replica.window or 0.0):
        return "starting, sampled before one window of readiness"
    return None


def per_replica(
    metric: TargetMetric,
    groups: Groups,
    *,
    current: int,
    tolerances: Tolerances,
) -> Proposal:
    """HPA's ``GetResourceReplicas`` / ``calcPlainMetricReplicas`` on grouped replicas."""
    target = metric.target
    if not groups.counted:
        return Proposal(
            None,
            None,
            f"no replica has a sample that counts ({groups.describe()})",
            error=f"no replica has a sample that counts ({groups.describe()})",
        )
    total = sum(groups.counted)
    count = len(groups.counted)
    average = total / count
    ratio = average / target
    said = (
        f"{metric.show(average)} per replica against a target of {metric.show(target)} "
        f"(ratio {ratio:.3g}; {groups.describe()})"
    )
    rebalance = bool(groups.set_aside) and ratio > 1.0
    if not rebalance and not groups.missing:
        if tolerances.within(ratio):
            return Proposal(
                current, average, f"{said}: within tolerance, stays at {current}", held="tolerance"
            )
        wanted = ceil(ratio * count)
        return Proposal(wanted, average, f"{said} → {wanted}")
    fill_total = total
    fill_count = count
    notes: list[str] = []
    if groups.missing:
        if ratio < 1.0:
            fill = max(100.0, target) if metric.percent else target
            fill_total += fill * len(groups.missing)
            fill_count += len(groups.missing)
            notes.append(f"{len(groups.missing)} without a sample counted as {metric.show(fill)}")
        elif ratio > 1.0:
            fill_count += len(groups.missing)
            notes.append(f"{len(groups.missing)} without a sample counted as 0")
    if rebalance:
        fill_count += len(groups.set_aside)
        notes.append(f"{len(groups.set_aside)} set aside counted as 0")
    new_ratio = fill_total / (fill_count * target)
    filled = f"{said}; {', '.join(notes)}: ratio {new_ratio:.3g}" if notes else said
    if tolerances.within(new_ratio):
        return Proposal(
            current, average, f"{filled}, within tolerance: stays at {current}", held="tolerance"
        )
    if (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return Proposal(
            current,
            average,
            f"{filled}, the other way: stays at {current} until the samples are in",
            held="missing samples",
        )
    wanted = ceil(new_ratio * fill_count)
    if (new_ratio < 1.0 and wanted > current) or (new_ratio > 1.0 and wanted < current):
        return Proposal(
            current,
            average,
            f"{filled} → {wanted}, against the direction of the ratio: stays at {current}",
            held="missing samples",
        )
    return Proposal(wanted, average, f"{filled} → {wanted}")


def service_wide(
    metric: TargetMetric, value: float, *, current: int, tolerances: Tolerances
) -> Proposal:
    """KEDA's AverageValue (HPA's ``GetExternalPerPodMetricReplicas``)."""
    target = metric.target
    wanted = ceil(value / target) if value > 0 else 0
    said = f"{metric.show(value)} for the service, {metric.show(target)} per replica"
    if current == 0:
        return Proposal(wanted, value, f"{said}: from 0 → {wanted}")
    ratio = value / (target * current)
    if tolerances.within(ratio):
        return Proposal(
            current,
            value,
            f"{said} (ratio {ratio:.3g} at {current}): within tolerance, stays",
            held="tolerance",
        )
    return Proposal(wanted, value, f"{said} → {wanted}")
