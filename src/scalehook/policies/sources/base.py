"""What a metric source is: how a metric of a policy is read, shared where it can be.

A batch of policies due at once asks each source for the *keys* its metrics need (a
service's samples, one PromQL query at one URL): each key is fetched once for the
whole batch, however many policies share it, and each metric's ``Reading`` is made
from what was fetched. A source that cannot read says why (``SourceError``): a reading
with an ``error``, which the rules treat as unknown, never as 0.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from scalehook.backends import Backend
from scalehook.domain.selectors import Selector, group_target
from scalehook.hosts.manager import HostManager
from scalehook.policies.rules import Reading


class SourcedMetric(Protocol):
    """A metric of a policy that a source reads (target and threshold metrics)."""

    @property
    def name(self) -> str: ...

    @property
    def source(self) -> str: ...

    @property
    def metric(self) -> str | None: ...

    @property
    def query(self) -> str | None: ...

    @property
    def url(self) -> str | None: ...

    @property
    def unit(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Target:
    """The service a policy scales, resolved: its backend and its name there."""

    backend: Backend
    name: str
    ref: str = field(init=False)  # backend/name

    def __post_init__(self) -> None:
        object.__setattr__(self, "ref", f"{self.backend.name}/{self.name}")


@dataclass(frozen=True, slots=True)
class GroupTarget:
    """The host group a policy scales: the hosts matching ``selector``, as the host
    manager lists them."""

    hosts: HostManager
    selector: Selector
    ref: str = field(init=False)  # hosts/label=value

    def __post_init__(self) -> None:
        object.__setattr__(self, "ref", group_target(self.selector))


Scaled = Target | GroupTarget
"""What a policy scales: a service or a host group."""


def hosts_key(group: GroupTarget) -> Hashable:
    """The one fetch of a group's hosts per batch: the loop counts them from it, and the
    capacity source reads their slots from it."""
    return ("hosts", group.ref)


class SourceError(Exception):
    """A metric could not be read; the message says why (for the evaluation's record).
    ``rejected``: the source refused the metric itself (a PromQL syntax error), so no
    retry can help."""

    def __init__(self, message: str, *, rejected: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.rejected = rejected


def service_of(target: Scaled, source: str) -> Target:
    """The service a per-replica source reads (a host-group policy never has one: its
    spec refuses such metrics; this keeps it so)."""
    if isinstance(target, Target):
        return target
    raise SourceError(f"{target.ref} is a host group: {source} reads a service's replicas")


class MetricSource(ABC):
    """One kind of ``source`` of a metric. A new source is one module with a subclass,
    and one line in ``sources/__init__.py``."""

    name: str  # the metric's ``source``
    metrics: frozenset[str] = frozenset()  # the ``metric`` values it reads, if any

    @abstractmethod
    def key(self, metric: SourcedMetric, target: Scaled) -> Hashable:
        """What must be fetched for ``metric``: equal keys are fetched once per batch."""

    @abstractmethod
    async def fetch(self, key: Hashable, target: Scaled) -> object:
        """Fetch what ``key`` names; raise ``SourceError`` (or a ``ScalehookError`` of the
        backend) when it cannot be read."""

    @abstractmethod
    def reading(self, metric: SourcedMetric, fetched: object) -> Reading:
        """The metric's reading from what was fetched for its key."""

    def shape(self, metric: SourcedMetric) -> Hashable:
        """What of ``metric`` (besides its name) its reading depends on: metrics of one
        key and one shape share one reading per batch (many policies, one service)."""
        return (metric.metric, metric.unit)

    async def check(self, metric: SourcedMetric, target: Scaled, *, field: str) -> list[str]:
        """At create: raise ``InvalidRequest`` naming ``field``'s part at fault when the
        metric can never be read as given; return warnings for what may pass later."""
        return []

    def activity(self, fetched: object) -> datetime | None:
        """When the service last had work from this source's point of view (the
        balancer: its last connection), for the scale-to-zero idle rule; None: unknown."""
        return None

    async def close(self) -> None:  # noqa: B027 - most sources hold nothing to close
        """Let go of connections (the loop stops)."""


def error_reading(name: str, error: str) -> Reading:
    return Reading(name=name, error=error)
