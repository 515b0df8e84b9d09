"""What ``/metrics`` reports of the engines and the hosts, read in the background.

A scrape must answer within Prometheus's scrape timeout (10 s by default) even while an
engine hangs. So each source (a backend's services; the hosts) is read by a task of its
own, never more than one at a time per source: a scrape starts a read of every source
that has none in flight, waits up to ``wait`` seconds for them, and publishes what each
source last answered. One that has not answered in time is marked stale
(``scalehook_backend_up 0``, and ``scalehook_service_counts_age_seconds`` says how old
its counts are); its read goes on, and is taken when it answers. A source never read
has no counts at all: a count that cannot be read never shows as zero.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from scalehook.backends import Backends, ServiceState
from scalehook.domain.selectors import Selector
from scalehook.errors import ScalehookError
from scalehook.hosts.manager import HostManager
from scalehook.loops.clock import Clock
from scalehook.metrics import Metrics

log = logging.getLogger(__name__)

T = TypeVar("T")

WAIT = 4.0
"""Seconds a scrape waits for the sources: well within Prometheus's default 10 s."""

HostCounts = dict[str, dict[str, int]]
"""Hosts per group (a selector, written ``k=v,...``) and state."""


@dataclass
class _Reading(Generic[T]):
    """One source: what it last answered and when, and whether its last read was in time."""

    name: str
    value: T | None = None
    at: float | None = None
    up: bool = False
    task: asyncio.Task[T] | None = None


class Scrape:
    def __init__(
        self,
        backends: Backends,
        metrics: Metrics,
        clock: Clock,
        *,
        hosts: HostManager | None = None,
        groups: Callable[[], Awaitable[Sequence[Selector]]] | None = None,
        wait: float = WAIT,
    ) -> None:
        self.backends = backends
        self.metrics = metrics
        self.clock = clock
        self.hosts = hosts
        self.groups = groups
        self.wait = wait
        self._services: dict[str, _Reading[list[ServiceState]]] = {
            b.name: _Reading(b.name) for b in backends
        }
        self._hosts: _Reading[HostCounts] = _Reading("hosts")

    async def refresh(self) -> None:
        """Read every source (those not still reading from before), wait up to ``wait``
        for them, and publish what each answered last."""
        readings: list[_Reading[Any]] = list(self._services.values())
        for backend in self.backends:
            self._start(self._services[backend.name], backend.list_services)
        if self.hosts is not None:
            self._start(self._hosts, self._read_hosts)
            readings.append(self._hosts)
        pending = [r.task for r in readings if r.task is not None and not r.task.done()]
        if pending:
            await asyncio.wait(pending, timeout=self.wait)
        for reading in readings:
            if reading.task is not None and not reading.task.done():
                reading.up = False  # it did not answer in time: what it showed is stale
        self._publish()

    def _start(self, reading: _Reading[T], read: Callable[[], Awaitable[T]]) -> None:
        if reading.task is not None and not reading.task.done():
            return  # still reading from an earlier scrape: never pile reads on an engine

        async def run() -> T:
            return await read()

        task = asyncio.create_task(run(), name=f"scrape {reading.name}")
        reading.task = task
        task.add_done_callback(lambda done: self._answered(reading, done))

    def _answered(self, reading: _Reading[T], task: asyncio.Task[T]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is None:
            reading.value = task.result()
            reading.at = self.clock.monotonic()
            reading.up = True
            return
        reading.up = False
        if not isinstance(error, ScalehookError):
            log.warning("reading %s for /metrics failed", reading.name, exc_info=error)

    async def _read_hosts(self) -> HostCounts:
        assert self.hosts is not None
        groups = {str(s): s for s in (await self.groups() if self.groups else [])}
        hosts = await self.hosts.list()
        return {
            name: dict(Counter(h.state for h in hosts if selector.matches(h.labels)))
            for name, selector in groups.items()
        }

    def _publish(self) -> None:
        now = self.clock.monotonic()
        readings = self._services.values()
        self.metrics.set_services([s for r in readings if r.value is not None for s in r.value])
        self.metrics.set_backends(
            {r.name: r.up for r in readings},
            {r.name: now - r.at for r in readings if r.at is not None},
        )
        if self.hosts is None:
            return
        self.metrics.set_hosts(self._hosts.value or {})
        self.metrics.hosts_up.set(1 if self._hosts.up else 0)
        if self._hosts.at is not None:
            self.metrics.hosts_age.set(now - self._hosts.at)

    async def close(self) -> None:
        """Stop the reads still in flight."""
        readings: list[_Reading[Any]] = [*self._services.values(), self._hosts]
        tasks = [r.task for r in readings if r.task is not None and not r.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
