"""Every load balancer of ``balancers:``, started and asked together.

The runtime registers ``before_stop`` and ``changed`` as replica hooks of the backends
(``backends/hooks.py``), so backends drain through balancers without importing them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from scalehook.backends import Backends, Replica
from scalehook.balancers.membership import HealthView, Membership
from scalehook.balancers.settings import BalancerSettings
from scalehook.balancers.stats import LoadReader, ServiceLoad
from scalehook.domain.membership import server_name
from scalehook.loops.clock import Clock
from scalehook.metrics import Metrics


class Balancers:
    def __init__(
        self,
        settings: dict[str, BalancerSettings],
        *,
        backends: Backends,
        health: HealthView,
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        self._clock = clock
        self._balancers = [
            Membership(name, one, backends=backends, health=health, metrics=metrics, clock=clock)
            for name, one in settings.items()
        ]
        self._readers = {b.name: LoadReader(b.api, clock) for b in self._balancers}

    def __iter__(self) -> Iterator[Membership]:
        return iter(self._balancers)

    def __len__(self) -> int:
        return len(self._balancers)

    async def start(self) -> None:
        """Check every balancer: ``ConfigError`` naming the setting for the first that
        cannot be used (unreachable, not admin, a backend HAProxy lacks)."""
        for balancer in self._balancers:
            await balancer.check()

    async def close(self) -> None:
        await asyncio.gather(*(b.close() for b in self._balancers))

    async def reconcile(self) -> None:
        await asyncio.gather(*(b.reconcile() for b in self._balancers))

    async def before_stop(self, service: str, replica: Replica, grace: float) -> None:
        """A replica hook: drain ``replica`` out of every balancer carrying it."""
        await asyncio.gather(*(b.before_stop(service, replica, grace) for b in self._balancers))

    def changed(self, service: str) -> None:
        """A replica hook: a backend saw a replica of ``service`` change; look soon."""
        for balancer in self._balancers:
            balancer.wake.set()

    async def replica_load(self, service: str) -> ServiceLoad | None:
        """The replicas of ``service`` (a ref as written under ``services:``, or
        ``<backend>/<service>``) and their traffic through the first balancer that
        carries it; None when no balancer carries it. Raises ``HAProxyUnavailable`` (or
        another ``BackendError``) when HAProxy cannot be read: no reading is not zero."""
        for balancer in self._balancers:
            for mapped in balancer.mapped:
                if service != mapped.ref and not await balancer.carries(mapped, service):
                    continue
                backend = mapped.settings.backend
                replicas = await balancer.replicas_of(mapped)
                servers = {server_name(balancer.settings.prefix, r.id): r.id for r in replicas}
                loads = await self._readers[balancer.name].read(backend, servers)
                return ServiceLoad(tuple(replicas), loads)
        return None
