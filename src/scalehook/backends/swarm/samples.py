"""Samples of a Swarm service's tasks, cheap enough to read every second.

A sample costs one task listing for the service (the engine finds a service by name in
the task filter) and one quick stats call per task container on this engine
(``engine/stats.py``), all at once; each container is inspected once, for when it
started. The limits come from the task's spec (``Resources.Limits``), so they are
known for every task. A task on another node has no usage figures here (the Engine
API serves stats only for its own containers): ``None``, not 0. ``ready_since`` is the
task's status time while it is ``running`` (Swarm counts a task with a HEALTHCHECK as
running once healthy).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from scalehook.backends.base import ReplicaSample
from scalehook.backends.engine import JSON, EngineClient
from scalehook.backends.engine.stats import ContainerStats, Usage, engine_time
from scalehook.backends.swarm.services import Services, container_of
from scalehook.backends.swarm.update import SECOND, slot_of, task_state


def task_limits(task: JSON) -> tuple[float | None, int | None]:
    """(cores, bytes) a task may use, from its spec; None where it sets no limit."""
    found = ((task.get("Spec") or {}).get("Resources") or {}).get("Limits") or {}
    cpus = int(found.get("NanoCPUs") or 0)
    memory = int(found.get("MemoryBytes") or 0)
    return (cpus / SECOND if cpus > 0 else None), (memory if memory > 0 else None)


class Sampler:
    def __init__(self, client: EngineClient, services: Services) -> None:
        self._client = client
        self._services = services
        self._stats = ContainerStats(client)
        self._node: str | None = None  # this engine's node id in the Swarm
        self._started: dict[str, datetime | None] = {}  # container -> when it started
        self._seen: dict[str, set[str]] = {}  # service -> its containers here

    async def samples(self, service: str) -> list[ReplicaSample]:
        tasks, here = await asyncio.gather(self._services.tasks(service=service), self._here())
        tasks.sort(key=lambda t: (int(t.get("Slot") or 0), str(t.get("NodeID") or "")))
        local = {
            container_of(t): t
            for t in tasks
            if container_of(t) and t.get("NodeID") == here and task_state(t) in _STARTED
        }
        unknown = [c for c in local if c not in self._started]
        usages, records = await asyncio.gather(
            self._stats.sample(list(local), group=service),
            asyncio.gather(*(self._services.container(c) for c in unknown)),
        )
        for container, record in zip(unknown, records, strict=True):
            if record is not None:
                state = record.get("State") or {}
                self._started[container] = engine_time(str(state.get("StartedAt") or ""))
        for gone in self._seen.get(service, set()) - set(local):
            self._started.pop(gone, None)
        self._seen[service] = set(local)
        now = datetime.now(UTC)
        return [self._sample(t, service, usages.get(container_of(t)), now) for t in tasks]

    def _sample(
        self, task: JSON, service: str, usage: Usage | None, now: datetime
    ) -> ReplicaSample:
        running = task_state(task) == "running"
        cpu_limit, memory_limit = task_limits(task)
        since = engine_time(str((task.get("Status") or {}).get("Timestamp") or ""))
        return ReplicaSample(
            replica=slot_of(task, service),
            ready=running,
            started_at=self._started.get(container_of(task)),
            ready_since=since if running else None,
            cpu_percent=None if usage is None else usage.cpu_percent,
            cpu_limit=cpu_limit,
            memory_bytes=None if usage is None else usage.memory_bytes,
            memory_limit=memory_limit,
            sampled_at=now if usage is None else usage.read,
            window=None if usage is None else usage.window,
        )

    async def _here(self) -> str:
        """This engine's node id (asked once: it changes only if it leaves the Swarm)."""
        if self._node is None:
            info = await self._client.get("/info")
            self._node = str((info.get("Swarm") or {}).get("NodeID") or "")
        return self._node


_STARTED = frozenset({"starting", "running"})
