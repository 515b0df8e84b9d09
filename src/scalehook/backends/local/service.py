"""A local service: its replicas, converging on the desired count, and its balancer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from scalehook.backends.base import Replica, ServiceState
from scalehook.backends.local.balancer import Balancer
from scalehook.backends.local.replica import ReplicaProcess
from scalehook.backends.local.spec import LocalServiceSpec

log = logging.getLogger(__name__)


class LocalService:
    def __init__(
        self,
        spec: LocalServiceSpec,
        *,
        backend: str,
        desired: int,
        log_dir: Path,
        on_process: Callable[[str, int | None], None],
    ) -> None:
        self.spec = spec
        self.backend = backend
        self.desired = desired
        self._log_dir = log_dir
        self._on_process = on_process
        self._replicas: dict[int, ReplicaProcess] = {}
        self._retiring: set[ReplicaProcess] = set()
        self._stops: set[asyncio.Task[None]] = set()
        self.balancer: Balancer | None = None
        if spec.port is not None:
            self.balancer = Balancer(spec.host, spec.port, self.ready_replicas)

    async def start(self) -> None:
        if self.balancer is not None:
            await self.balancer.start()
        self.reconcile()

    async def close(self) -> None:
        self.desired = 0
        everything = list(self._replicas.values()) + list(self._retiring)
        self._replicas.clear()
        await asyncio.gather(*(r.stop(self.spec.stop_grace) for r in everything))
        if self._stops:
            await asyncio.gather(*self._stops, return_exceptions=True)
        if self.balancer is not None:
            await self.balancer.close()

    def ready_replicas(self) -> list[ReplicaProcess]:
        return [r for r in self._replicas.values() if r.ready]

    def reconcile(self) -> None:
        """Start or retire replicas until the active set has ``desired`` members.

        New replicas take the lowest free index; scale-down retires the highest (the
        newest), which leaves the balancer at once and stops gracefully in the background.
        """
        while len(self._replicas) < self.desired:
            taken = set(self._replicas) | {r.index for r in self._retiring}
            index = next(i for i in range(1, len(taken) + 2) if i not in taken)
            replica = ReplicaProcess(
                self.spec, index, log_dir=self._log_dir, on_change=self._replica_changed
            )
            self._replicas[index] = replica
            replica.start()
        while len(self._replicas) > self.desired:
            replica = self._replicas.pop(max(self._replicas))
            self._retiring.add(replica)
            task = asyncio.create_task(self._retire(replica))
            self._stops.add(task)
            task.add_done_callback(self._stops.discard)

    async def _retire(self, replica: ReplicaProcess) -> None:
        try:
            await replica.stop(self.spec.stop_grace)
        finally:
            self._retiring.discard(replica)

    def _replica_changed(self, replica: ReplicaProcess) -> None:
        self._on_process(replica.id, replica.pid)

    def state(self) -> ServiceState:
        active = self._replicas.values()
        return ServiceState(
            name=self.spec.name,
            backend=self.backend,
            labels=dict(self.spec.labels),
            desired=self.desired,
            running=sum(1 for r in active if r.running),
            ready=sum(1 for r in active if r.ready),
            image=f"{self.spec.name}:{self.spec.version}",
        )

    def replicas(self) -> list[Replica]:
        everything = sorted(self._replicas.values(), key=lambda r: r.index)
        everything += sorted(self._retiring, key=lambda r: r.index)
        return [
            Replica(
                id=r.id,
                service=self.spec.name,
                state=r.state,
                ready=r.ready,
                address=f"{r.spec.host}:{r.port}" if r.port is not None else None,
                pid=r.pid,
                started_at=r.started_at,
                image=f"{self.spec.name}:{self.spec.version}",
                restarts=r.restarts,
            )
            for r in everything
        ]
