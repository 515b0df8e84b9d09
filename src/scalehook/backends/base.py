"""The seam between scalehook and an engine.

Everything outside ``backends/`` reaches an engine only through :class:`Backend`.
Methods take keyword-only arguments and raise the domain's errors
(``ServiceNotFound``, ``BackendUnavailable``, ``BackendError``), never an SDK's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from scalehook.selectors import Selector


@dataclass(frozen=True, slots=True)
class ServiceState:
    """A service as its engine sees it now."""

    name: str
    backend: str
    labels: Mapping[str, str] = field(default_factory=dict)
    desired: int = 0
    running: int = 0
    ready: int = 0
    image: str | None = None
    scalable: bool = True
    mode: str = "replicated"

    @property
    def ref(self) -> str:
        return f"{self.backend}/{self.name}"


@dataclass(frozen=True, slots=True)
class Replica:
    """One running copy of a service: a process, a container or a task."""

    id: str
    service: str
    state: str
    ready: bool
    address: str | None = None
    pid: int | None = None
    started_at: datetime | None = None
    image: str | None = None
    restarts: int = 0


@dataclass(frozen=True, slots=True)
class ReplicaStats:
    replica: str
    cpu_percent: float
    memory_bytes: int


@runtime_checkable
class Backend(Protocol):
    """An engine that runs services: local processes, Docker, Swarm, Kubernetes."""

    @property
    def name(self) -> str:
        """The instance name used in service refs (``<backend>/<service>``)."""
        ...

    @property
    def kind(self) -> str:
        """The engine type: ``local``, ``docker``, ``swarm``, ..."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def list_services(self, *, selector: Selector | None = None) -> list[ServiceState]: ...

    async def get_service(self, *, service: str) -> ServiceState: ...

    async def scale(self, *, service: str, replicas: int) -> ServiceState:
        """Set the desired replica count and start converging to it; return the new state."""
        ...

    async def replicas(self, *, service: str) -> list[Replica]: ...

    async def stats(self, *, service: str) -> list[ReplicaStats]: ...
