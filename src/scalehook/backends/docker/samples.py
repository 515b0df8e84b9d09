"""Samples of a plain Docker service's replicas, cheap enough to read every second.

A sample costs one container listing for the service (filtered by its labels once its
name is known) and one quick stats call per running container (``engine/stats.py``),
all at once. What does not change while a container runs (its limits, when it started,
when it became ready) comes from one inspect, made again only when the listing shows
its readiness changed or its CPU counter went back (it restarted).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from scalehook.backends.base import ReplicaSample
from scalehook.backends.docker.containers import Containers
from scalehook.backends.docker.groups import (
    COMPOSE_PROJECT,
    COMPOSE_SERVICE,
    SERVICE_LABEL,
    Container,
    Group,
    group,
)
from scalehook.backends.engine import JSON, EngineClient
from scalehook.backends.engine.readiness import ready_since
from scalehook.backends.engine.stats import ContainerStats, Usage, engine_time, limits

Find = Callable[[str], Awaitable[tuple[str, Group]]]


@dataclass(frozen=True, slots=True)
class Facts:
    """What one inspect of a running container says, kept while it stays the same."""

    ready: bool  # the readiness it was inspected at
    started_at: datetime | None
    ready_since: datetime | None
    cpu_limit: float | None
    memory_limit: int | None


def facts_of(record: JSON, *, ready: bool) -> Facts:
    cpu, memory = limits(record.get("HostConfig") or {})
    return Facts(
        ready=ready,
        started_at=engine_time(str((record.get("State") or {}).get("StartedAt") or "")),
        ready_since=ready_since(record) if ready else None,
        cpu_limit=cpu,
        memory_limit=memory,
    )


def labels_of(found: Group) -> tuple[str, ...]:
    """The label filter that lists exactly this group's containers."""
    if found.project is None:
        return (f"{SERVICE_LABEL}={found.service}",)
    return (f"{COMPOSE_PROJECT}={found.project}", f"{COMPOSE_SERVICE}={found.service}")


class Sampler:
    def __init__(self, client: EngineClient, ops: Containers) -> None:
        self._client = client
        self._ops = ops
        self._stats = ContainerStats(client)
        self._facts: dict[str, Facts] = {}
        self._filters: dict[str, tuple[str, ...]] = {}  # service name -> its label filter
        self._seen: dict[str, set[str]] = {}  # service name -> its containers' ids

    async def samples(self, service: str, *, find: Find) -> list[ReplicaSample]:
        found = await self._group(service, find)
        running = [c for c in found.containers if c.running]
        stale = [c for c in running if self._stale(c)]
        usages, _ = await asyncio.gather(
            self._stats.sample([c.id for c in running], group=service), self._inspect(stale)
        )
        await self._inspect(
            [c for c in running if c not in stale and c.id in usages and usages[c.id].restarted]
        )
        ids = {c.id for c in running}  # one that stopped is inspected again when it runs
        for gone in self._seen.get(service, set()) - ids:
            self._facts.pop(gone, None)
        self._seen[service] = ids
        now = datetime.now(UTC)
        return [self._sample(c, usages.get(c.id), now) for c in found.containers]

    def forget(self) -> None:
        """Inspect every container again at its next sample (its limits changed)."""
        self._facts.clear()

    def _stale(self, container: Container) -> bool:
        facts = self._facts.get(container.id)
        return facts is None or facts.ready != container.ready

    async def _inspect(self, containers: list[Container]) -> None:
        records = await asyncio.gather(*(self._ops.inspect(c.id) for c in containers))
        for container, record in zip(containers, records, strict=True):
            if record is not None:
                self._facts[container.id] = facts_of(record, ready=container.ready)

    def _sample(self, container: Container, usage: Usage | None, now: datetime) -> ReplicaSample:
        facts = self._facts.get(container.id) if container.running else None
        return ReplicaSample(
            replica=container.name,
            ready=container.ready,
            started_at=None if facts is None else facts.started_at,
            ready_since=facts.ready_since if facts is not None and container.ready else None,
            cpu_percent=None if usage is None else usage.cpu_percent,
            cpu_limit=None if facts is None else facts.cpu_limit,
            memory_bytes=None if usage is None else usage.memory_bytes,
            memory_limit=None if facts is None else facts.memory_limit,
            sampled_at=now if usage is None else usage.read,
            window=None if usage is None else usage.window,
        )

    async def _group(self, service: str, find: Find) -> Group:
        """The service's containers: one listing by its labels once known, else the
        backend's own lookup (which knows every naming rule, and says when it is gone).
        A bare Compose name may become ambiguous later: only unambiguous names are kept."""
        labels = self._filters.get(service)
        if labels is not None:
            rows = await self._client.get(
                "/containers/json",
                params={"all": "1", "filters": json.dumps({"label": list(labels)})},
            )
            for candidate in group(Container.of(row) for row in rows):
                if labels_of(candidate) == labels:
                    return candidate
            del self._filters[service]
        name, found = await find(service)
        if name == service and (found.project is None or found.qualified == service):
            self._filters[service] = labels_of(found)
        return found
