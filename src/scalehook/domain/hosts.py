"""Hosts as scalehook sees them: a cluster node joined with what its provider knows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

PROTECTED_LABEL = "scalehook.protected"
PROVIDER_LABEL = "scalehook.provider"
PROVIDER_ID_LABEL = "scalehook.provider-id"

#: node states that mean "not serving": such hosts go first on scale-down
UNHEALTHY_STATES = frozenset({"down", "disconnected", "unknown"})

HostState = Literal["ready", "down", "disconnected", "unknown", "error"]


@dataclass(frozen=True, slots=True)
class HostLoad:
    running_tasks: int = 0
    cpu_reserved: float = 0.0
    cpu_total: float = 0.0
    memory_reserved: int = 0
    memory_total: int = 0


@dataclass(frozen=True, slots=True)
class JoinSpec:
    """How a new host joins the cluster. The token is a secret: never logged or shown."""

    token: str = field(repr=False)
    managers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NodeTask:
    """A task placed on a node: what draining the node waits for."""

    id: str
    service_id: str | None = None


@dataclass(frozen=True, slots=True)
class Host:
    """One node of the cluster (a Swarm node)."""

    id: str
    name: str
    state: str
    availability: str
    role: str
    labels: Mapping[str, str]
    created: datetime
    provider: str | None = None
    provider_id: str | None = None
    address: str | None = None
    load: HostLoad = field(default_factory=HostLoad)
    is_self: bool = False

    @property
    def protected(self) -> bool:
        return self.labels.get(PROTECTED_LABEL, "").lower() == "true"

    @property
    def cloneable(self) -> bool:
        """A host that can be copied: healthy, in error-free state, made by a provider."""
        return self.state == "ready" and self.provider is not None

    @property
    def schedulable(self) -> bool:
        """It can take tasks now: ready and active (not drained or paused)."""
        return self.state == "ready" and self.availability == "active"

    @property
    def counted(self) -> bool:
        """Hosts in error state are listed but do not count toward the group's size."""
        return self.state != "error"

    def removable(self) -> str | None:
        """Why this host must never be removed, or None if it may be."""
        if self.role == "manager":
            return "it is a manager"
        if self.is_self:
            return "scalehook runs on it"
        if self.protected:
            return f"it is labelled {PROTECTED_LABEL}=true"
        if self.provider is None:
            return "no provider made it, so none can destroy it"
        return None

    def user_labels(self) -> dict[str, str]:
        """The labels a clone carries: all but scalehook's own bookkeeping ones."""
        return {
            k: v for k, v in self.labels.items() if k not in (PROVIDER_LABEL, PROVIDER_ID_LABEL)
        }
