"""``engine``: ``cpu`` and ``memory`` per replica, from the backend's samples.

``cpu`` is percent of one core, or of the replica's CPU limit where it has one (a
replica limited to half a core that uses half a core is at 100); ``memory`` is bytes,
or with ``unit: percent`` percent of the replica's memory limit (a replica without a
limit then has no sample). A replica without a sample keeps ``None`` (the rules treat it
as HPA does, never as 0); replicas being stopped are left out.
"""

from __future__ import annotations

from collections.abc import Hashable

from scalehook.backends import ReplicaSample
from scalehook.errors import InvalidRequest
from scalehook.policies.rules import Reading, ReplicaValue
from scalehook.policies.sources.base import MetricSource, Scaled, SourcedMetric, service_of


class EngineSource(MetricSource):
    name = "engine"
    metrics = frozenset({"cpu", "memory"})

    def key(self, metric: SourcedMetric, target: Scaled) -> Hashable:
        return ("engine", target.ref)

    async def fetch(self, key: Hashable, target: Scaled) -> object:
        service = service_of(target, self.name)
        return await service.backend.samples(service=service.name)

    def reading(self, metric: SourcedMetric, fetched: object) -> Reading:
        assert isinstance(fetched, list)
        values = tuple(
            ReplicaValue(
                replica=s.replica,
                value=value_of(metric.metric or "cpu", s, percent=metric.unit == "percent"),
                ready=s.ready,
                started_at=s.started_at,
                ready_since=s.ready_since,
                sampled_at=s.sampled_at,
                window=s.window,
            )
            for s in fetched
            if isinstance(s, ReplicaSample) and not s.leaving
        )
        return Reading(name=metric.name, replicas=values)

    async def check(self, metric: SourcedMetric, target: Scaled, *, field: str) -> list[str]:
        if metric.metric not in self.metrics:
            raise InvalidRequest(
                f"{field}.metric: the engine source reads cpu or memory, not {metric.metric!r}",
                field=f"{field}.metric",
            )
        return []


def value_of(metric: str, sample: ReplicaSample, *, percent: bool = False) -> float | None:
    """A replica's value of ``cpu`` or ``memory`` (bytes, or ``percent`` of its limit);
    None when it has none."""
    if metric == "cpu":
        if sample.cpu_percent is None:
            return None
        if sample.cpu_limit:
            return round(sample.cpu_percent / sample.cpu_limit, 3)
        return sample.cpu_percent
    if sample.memory_bytes is None:
        return None
    if not percent:
        return float(sample.memory_bytes)
    if not sample.memory_limit:
        return None
    return round(sample.memory_bytes / sample.memory_limit * 100.0, 3)
