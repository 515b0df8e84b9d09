"""``balancer``: ``connections`` (open now) and ``rate`` (new connections per second)
per replica, from the load balancer in front of the service: HAProxy's ``show stat``
when a balancer of ``balancers:`` carries the service (``load``: its per-replica
``ReplicaLoad``), else the backend's own balancer (``BalancerStats``: the local
backend's built-in one).

A rate is the change of a replica's connection counter since the previous reading of
it (at least ``MIN_WINDOW`` apart, as CPU% is): the first reading of a replica has no
rate (``None``, never 0). Under HAProxy every replica of the service is listed, and one
HAProxy does not carry (not joined yet, or leaving) has no reading (``None``: missing,
never 0); HAProxy that cannot be read is a metric that cannot be read. At zero replicas
there is no replica to read: the reading is the connections the backend's balancer
holds for the service (its wake signal, a service-wide value; 0 under HAProxy when the
backend has no balancer of its own: HAProxy holds none). The service's last connection
(``activity``) is what the scale-to-zero rule measures idle from; under HAProxy it is
the last reading that saw a session open or the counter grow.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from scalehook.backends.base import BalancerStats, Replica, ServiceConnections
from scalehook.backends.sampling import Readings
from scalehook.balancers.haproxy import HAProxyError, HAProxyUnavailable
from scalehook.balancers.stats import ReplicaLoad, ServiceLoad
from scalehook.errors import BackendError, BackendUnsupported, InvalidRequest, ScalehookError
from scalehook.loops.clock import Clock
from scalehook.policies.rules import Reading, ReplicaValue
from scalehook.policies.sources.base import (
    MetricSource,
    Scaled,
    SourcedMetric,
    SourceError,
    Target,
    service_of,
)

LoadRead = Callable[[str], Awaitable[ServiceLoad | None]]
"""``Balancers.replica_load``: a service ref's replicas and their load through the
balancer that carries it, None when none does; raises a ``BackendError`` when it cannot
be read."""


@dataclass(frozen=True, slots=True)
class _Count:
    at: float  # the clock's monotonic time
    total: int


@dataclass(frozen=True, slots=True)
class Counted:
    """One replica as a balancer counts it; ``active`` and ``total`` are None when the
    balancer does not carry it (no reading, not zero)."""

    replica: str
    ready: bool
    active: int | None  # connections open to it now (in flight)
    total: int | None  # connections it has been sent: a counter


@dataclass(frozen=True, slots=True)
class BalancerReading:
    replicas: tuple[Counted, ...]
    waiting: int  # held for want of a replica (at zero)
    last_connection: datetime | None
    sampled_at: datetime
    rates: dict[str, tuple[float, float] | None]  # replica -> (per second, over seconds)
    via: str  # where it was read: "haproxy" or "backend"


def from_haproxy(replicas: Sequence[Replica], loads: Mapping[str, ReplicaLoad]) -> list[Counted]:
    """The service's replicas with HAProxy's counters: in flight (queued included) as
    ``active``, ``stot`` as ``total``; a replica HAProxy does not carry has neither."""
    counted = []
    for replica in replicas:
        load = loads.get(replica.id)
        counted.append(
            Counted(
                replica=replica.id,
                ready=replica.ready,
                active=None if load is None else load.in_flight,
                total=None if load is None else load.total,
            )
        )
    return counted


class BalancerSource(MetricSource):
    name = "balancer"
    metrics = frozenset({"connections", "rate"})

    def __init__(self, clock: Clock, load: LoadRead | None = None) -> None:
        self.clock = clock
        self.load = load
        self._counts: Readings[tuple[str, str], _Count] = Readings()
        self._seen: dict[str, datetime] = {}  # service ref -> HAProxy last saw it busy

    def key(self, metric: SourcedMetric, target: Scaled) -> Hashable:
        return ("balancer", target.ref)

    async def fetch(self, key: Hashable, scaled: Scaled) -> object:
        target = service_of(scaled, self.name)
        through = await self._haproxy(target)
        if through is None:
            stats = await self._stats(target)
            counted = [Counted(r.replica, r.ready, r.active, r.total) for r in stats.replicas]
            waiting, last, sampled_at, via = (
                stats.waiting, stats.last_connection, stats.sampled_at, "backend"
            )  # fmt: skip
        else:
            counted = from_haproxy(through.replicas, through.loads)
            sampled_at = self.clock.now()
            waiting, last, via = 0, self._seen.get(target.ref), "haproxy"
            if not counted and isinstance(target.backend, BalancerStats):
                try:  # at zero the backend's own balancer holds the waking connections
                    own = await target.backend.balancer_stats(service=target.name)
                    waiting = own.waiting
                except BackendUnsupported:
                    pass
        at = self.clock.monotonic()
        rates: dict[str, tuple[float, float] | None] = {}
        keys = []
        busy = False
        for replica in counted:
            rates[replica.replica] = None
            if replica.total is None:
                continue
            busy = busy or bool(replica.active)
            count = _Count(at, replica.total)
            before = self._counts.add((target.ref, replica.replica), count)
            keys.append((target.ref, replica.replica))
            if before is not None and count.at > before.at and count.total >= before.total:
                window = count.at - before.at
                rates[replica.replica] = ((count.total - before.total) / window, window)
                busy = busy or count.total > before.total
        self._counts.only(target.ref, keys)
        if via == "haproxy" and busy:
            last = self._seen[target.ref] = sampled_at
        return BalancerReading(tuple(counted), waiting, last, sampled_at, rates, via)

    async def _haproxy(self, target: Target) -> ServiceLoad | None:
        """The service's replicas and HAProxy's load of them (one listing), or None when
        no balancer carries it. HAProxy unreadable is a ``SourceError``: a metric that
        cannot be read."""
        if self.load is None:
            return None
        try:
            return await self.load(target.ref)
        except (HAProxyError, HAProxyUnavailable) as exc:
            raise SourceError(f"HAProxy cannot be read: {exc.message}") from exc
        except BackendError as exc:  # the engine, asked for the replicas HAProxy carries
            raise SourceError(f"the replicas behind HAProxy cannot be read: {exc.message}") from exc

    async def _stats(self, target: Target) -> ServiceConnections:
        backend = target.backend
        if not isinstance(backend, BalancerStats):
            raise SourceError(
                f"backend {backend.name!r} ({backend.kind}) has no load balancer scalehook "
                "reads, and no balancer of `balancers:` carries the service"
            )
        return await backend.balancer_stats(service=target.name)

    def reading(self, metric: SourcedMetric, fetched: object) -> Reading:
        assert isinstance(fetched, BalancerReading)
        if not fetched.replicas:
            return Reading(name=metric.name, value=float(fetched.waiting))
        values = []
        for replica in fetched.replicas:
            value: float | None
            window: float | None = None
            if metric.metric == "rate":
                rate = fetched.rates.get(replica.replica)
                value, window = (None, None) if rate is None else (round(rate[0], 3), rate[1])
            else:
                value = None if replica.active is None else float(replica.active)
            values.append(
                ReplicaValue(
                    replica=replica.replica,
                    value=value,
                    ready=replica.ready,
                    started_at=None,
                    ready_since=None,
                    sampled_at=fetched.sampled_at,
                    window=window,
                )
            )
        return Reading(name=metric.name, replicas=tuple(values))

    def activity(self, fetched: object) -> datetime | None:
        assert isinstance(fetched, BalancerReading)
        return fetched.last_connection

    async def check(self, metric: SourcedMetric, scaled: Scaled, *, field: str) -> list[str]:
        target = service_of(scaled, self.name)
        if metric.metric not in self.metrics:
            raise InvalidRequest(
                f"{field}.metric: the balancer source reads connections or rate, "
                f"not {metric.metric!r}",
                field=f"{field}.metric",
            )
        try:
            if await self._haproxy(target) is not None:
                return []
        except SourceError as exc:  # it carries the service; it may answer later
            return [
                f"{field} ({metric.name}): {exc.message}; the policy holds while it cannot be read"
            ]
        try:
            await self._stats(target)
        except (SourceError, BackendUnsupported) as exc:
            text = exc.message if isinstance(exc, ScalehookError | SourceError) else str(exc)
            raise InvalidRequest(f"{field}.source: {text}", field=f"{field}.source") from exc
        return []
