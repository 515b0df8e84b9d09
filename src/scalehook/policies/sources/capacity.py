"""``capacity``: how full a host group is, per host, for policies on ``hosts``.

``used`` is percent of a host's task slots in use: its running tasks against its
``scalehook.max_tasks`` label (the count ``GET /v1/nodes`` shows as its most); ``tasks``
is its running tasks. A host that cannot take tasks now (down, drained, paused), or
whose slots are unknown (no label, or one that does not read) has no sample, never 0:
the rules count it as HPA counts a pod without metrics. Tasks Swarm cannot place
anywhere (pending: no free slot, no room) run on no host; the hosts that hold the rest
read full, so the group grows before services stop fitting.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from scalehook.domain.capacity import MAX_TASKS_LABEL, max_tasks_label
from scalehook.domain.hosts import Host
from scalehook.errors import InvalidRequest
from scalehook.policies.rules import Reading, ReplicaValue
from scalehook.policies.sources.base import (
    GroupTarget,
    MetricSource,
    Scaled,
    SourcedMetric,
    SourceError,
    hosts_key,
)


class CapacitySource(MetricSource):
    name = "capacity"
    metrics = frozenset({"used", "tasks"})

    def key(self, metric: SourcedMetric, target: Scaled) -> Hashable:
        return hosts_key(_group_of(target))

    async def fetch(self, key: Hashable, target: Scaled) -> object:
        group = _group_of(target)
        return await group.hosts.list(group.selector)

    def reading(self, metric: SourcedMetric, fetched: object) -> Reading:
        assert isinstance(fetched, list)
        hosts = [h for h in fetched if isinstance(h, Host) and h.counted]
        values = tuple(
            ReplicaValue(
                replica=h.name,
                value=host_value(metric.metric or "used", h),
                ready=h.schedulable,
                started_at=h.created,
            )
            for h in hosts
        )
        if hosts and all(v.value is None for v in values):
            return Reading(name=metric.name, error=unknown_slots(hosts))
        return Reading(name=metric.name, replicas=values)

    async def check(self, metric: SourcedMetric, target: Scaled, *, field: str) -> list[str]:
        if metric.metric not in self.metrics:
            raise InvalidRequest(
                f"{field}.metric: the capacity source reads used or tasks, not {metric.metric!r}",
                field=f"{field}.metric",
            )
        group = _group_of(target)
        hosts = [h for h in await group.hosts.list(group.selector) if h.counted]
        if not hosts:
            return [
                f"{field}: {group.ref} has no host yet: add its first by hand "
                "(POST /v1/hosts with its labels); until then the policy has nothing to read"
            ]
        if metric.metric == "used" and all(host_value("used", h) is None for h in hosts):
            return [f"{field}: {unknown_slots(hosts)}"]
        return []


def host_value(metric: str, host: Host) -> float | None:
    """A host's ``used`` (percent of its slots) or ``tasks``; None when unknown."""
    if not host.schedulable:
        return None
    tasks = host.load.running_tasks
    if metric == "tasks":
        return float(tasks)
    most, _ = max_tasks_label(host.labels)
    if most is None or most <= 0:
        return None
    return round(tasks / most * 100.0, 3)


def unknown_slots(hosts: Sequence[Host]) -> str:
    """Why no host of a group says how full it is."""
    ready = [h for h in hosts if h.schedulable]
    if not ready:
        return "no host of the group can take tasks now (down, drained or paused)"
    problems = [why for h in ready if (why := max_tasks_label(h.labels)[1]) is not None]
    if problems:
        return "; ".join(problems)
    names = ", ".join(h.name for h in ready[:5])
    return (
        f"no host of the group has a {MAX_TASKS_LABEL} label ({names}): its slots are "
        f"unknown (set the label on the group's first host; its clones copy it)"
    )


def _group_of(target: Scaled) -> GroupTarget:
    if isinstance(target, GroupTarget):
        return target
    raise SourceError(f"{target.ref} is a service: capacity reads a host group's hosts")
