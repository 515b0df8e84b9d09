"""``balancer``: ``connections`` (open now) and ``rate`` (new connections per second)
per replica, from the load balancer in front of the service (``BalancerStats``: the
local backend's own balancer; HAProxy's stats implement the same seam).

A rate is the change of a replica's connection counter since the previous reading of
it (at least ``MIN_WINDOW`` apart, as CPU% is): the first reading of a replica has no
rate (``None``, never 0). At zero replicas there is no replica to read: the reading is
the connections the balancer holds for the service (its wake signal, a service-wide
value). The service's last connection (``activity``) is what the scale-to-zero rule
measures idle from.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime

from scalehook.backends.base import BalancerStats, ServiceConnections
from scalehook.backends.sampling import Readings
from scalehook.errors import BackendUnsupported, InvalidRequest, ScalehookError
from scalehook.loops.clock import Clock
from scalehook.policies.rules import Reading, ReplicaValue
from scalehook.policies.sources.base import MetricSource, SourcedMetric, SourceError, Target


@dataclass(frozen=True, slots=True)
class _Count:
    at: float  # the clock's monotonic time
    total: int


@dataclass(frozen=True, slots=True)
class BalancerReading:
    connections: ServiceConnections
    rates: dict[str, tuple[float, float] | None]  # replica -> (per second, over seconds)


class BalancerSource(MetricSource):
    name = "balancer"
    metrics = frozenset({"connections", "rate"})

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._counts: Readings[tuple[str, str], _Count] = Readings()

    def key(self, metric: SourcedMetric, target: Target) -> Hashable:
        return ("balancer", target.ref)

    async def fetch(self, key: Hashable, target: Target) -> object:
        stats = await self._stats(target)
        at = self.clock.monotonic()
        rates: dict[str, tuple[float, float] | None] = {}
        keys = []
        for replica in stats.replicas:
            count = _Count(at, replica.total)
            before = self._counts.add((target.ref, replica.replica), count)
            keys.append((target.ref, replica.replica))
            rates[replica.replica] = None
            if before is not None and count.at > before.at and count.total >= before.total:
                window = count.at - before.at
                rates[replica.replica] = ((count.total - before.total) / window, window)
        self._counts.only(target.ref, keys)
        return BalancerReading(stats, rates)

    async def _stats(self, target: Target) -> ServiceConnections:
        backend = target.backend
        if not isinstance(backend, BalancerStats):
            raise SourceError(
                f"backend {backend.name!r} ({backend.kind}) has no load balancer scalehook reads"
            )
        return await backend.balancer_stats(service=target.name)

    def reading(self, metric: SourcedMetric, fetched: object) -> Reading:
        assert isinstance(fetched, BalancerReading)
        stats = fetched.connections
        if not stats.replicas:
            return Reading(name=metric.name, value=float(stats.waiting))
        values = []
        for replica in stats.replicas:
            value: float | None
            window: float | None = None
            if metric.metric == "rate":
                rate = fetched.rates.get(replica.replica)
                value, window = (None, None) if rate is None else (round(rate[0], 3), rate[1])
            else:
                value = float(replica.active)
            values.append(
                ReplicaValue(
                    replica=replica.replica,
                    value=value,
                    ready=replica.ready,
                    started_at=None,
                    ready_since=None,
                    sampled_at=stats.sampled_at,
                    window=window,
                )
            )
        return Reading(name=metric.name, replicas=tuple(values))

    def activity(self, fetched: object) -> datetime | None:
        assert isinstance(fetched, BalancerReading)
        return fetched.connections.last_connection

    async def check(self, metric: SourcedMetric, target: Target, *, field: str) -> list[str]:
        if metric.metric not in self.metrics:
            raise InvalidRequest(
                f"{field}.metric: the balancer source reads connections or rate, "
                f"not {metric.metric!r}",
                field=f"{field}.metric",
            )
        try:
            await self._stats(target)
        except (SourceError, BackendUnsupported) as exc:
            text = exc.message if isinstance(exc, ScalehookError | SourceError) else str(exc)
            raise InvalidRequest(f"{field}.source: {text}", field=f"{field}.source") from exc
        return []
