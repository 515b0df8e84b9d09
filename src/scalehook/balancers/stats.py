"""Per-replica traffic as HAProxy counts it, for the policies' ``balancer`` metric source.

``show stat`` gives each server's sessions open now (``scur``: in flight) and since it
was added (``stot``); a rate is the change of ``stot`` between two readings over the
time between them, so the first reading of a server has none (``None``, never 0).
"""

from __future__ import annotations

from dataclasses import dataclass

from scalehook.backends.base import Replica
from scalehook.balancers.haproxy import RuntimeAPI
from scalehook.loops.clock import Clock


@dataclass(frozen=True, slots=True)
class ReplicaLoad:
    replica: str  # the replica's id (Replica.id)
    in_flight: int  # sessions open on it now (scur), queued ones included (qcur)
    total: int  # sessions since it joined (stot)
    rate: float | None  # sessions per second since the previous reading; None: first


@dataclass(frozen=True, slots=True)
class ServiceLoad:
    """A service's replicas as listed for the reading, and the load of those HAProxy
    carries, by replica id (one it does not carry has none: no reading, not zero)."""

    replicas: tuple[Replica, ...]
    loads: dict[str, ReplicaLoad]


class LoadReader:
    """Reads one HAProxy backend's per-server counters and keeps the previous reading of
    each server for its rate."""

    def __init__(self, api: RuntimeAPI, clock: Clock) -> None:
        self._api = api
        self._clock = clock
        self._previous: dict[tuple[str, str], tuple[int, float]] = {}

    async def read(self, backend: str, servers: dict[str, str]) -> dict[str, ReplicaLoad]:
        """The load of each server in ``servers`` (server name → replica id) that the
        backend has; raises the client's errors (unreachable is never zero load)."""
        loads = await self._api.loads(backend)
        now = self._clock.monotonic()
        found: dict[str, ReplicaLoad] = {}
        for load in loads:
            replica = servers.get(load.name)
            if replica is None:
                continue
            key = (backend, load.name)
            before = self._previous.get(key)
            rate = None
            if before is not None and now > before[1] and load.total >= before[0]:
                rate = (load.total - before[0]) / (now - before[1])
            self._previous[key] = (load.total, now)
            found[replica] = ReplicaLoad(
                replica=replica,
                in_flight=load.in_flight + load.queued,
                total=load.total,
                rate=rate,
            )
        for key in [k for k in self._previous if k[0] == backend and k[1] not in servers]:
            del self._previous[key]
        return found
