"""What a host provider is: it lists its machines, creates one like another, destroys one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from scalehook.domain.hosts import JoinSpec

__all__ = ["HostProvider", "JoinSpec", "ProviderHost"]


@dataclass(frozen=True, slots=True)
class ProviderHost:
    """A machine as its provider knows it."""

    provider: str
    id: str
    name: str
    state: str  # running | pending | stopped | error
    created: datetime
    address: str | None = None
    node_id: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    settings: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None


@runtime_checkable
class HostProvider(Protocol):
    @property
    def name(self) -> str: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def list(self) -> list[ProviderHost]: ...

    async def create(
        self, *, name: str, like: ProviderHost | None, labels: Mapping[str, str], join: JoinSpec
    ) -> ProviderHost:
        """Make a host named ``name`` (a copy of ``like``'s settings, tagged with ``labels``)
        that joins the cluster.

        Returns once the host exists and was told to join; waiting for the node to be
        Ready is the caller's job. On failure, nothing it made is left behind.
        """
        ...

    async def destroy(self, *, host: ProviderHost) -> None:
        """Stop and delete the machine and everything the provider made for it."""
        ...


@runtime_checkable
class GroupProvider(Protocol):
    """A provider whose machines are a cloud's own instance group (AWS Auto Scaling).

    The group launches machines and their own user data joins them, so the host manager
    matches a node to its machine by hostname (``ProviderHost.name``), also for machines
    the group launched by itself; and it asks before draining a node whether the group
    would let it go (its minimum size), as the drain cannot be taken back.
    """

    async def check_removal(self, host: ProviderHost) -> None:
        """Raise ``Conflict`` when destroying ``host`` would be refused."""
        ...
