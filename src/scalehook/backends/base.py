"""The seam between scalehook and an engine.

Everything outside ``backends/`` reaches an engine only through :class:`Backend`.
Methods take keyword-only arguments and raise the domain's errors
(``ServiceNotFound``, ``ReplicaNotFound``, ``BackendUnavailable``, ``BackendError``),
never an SDK's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from scalehook.domain.capacity import Capacity, Node
from scalehook.domain.resources import Resources
from scalehook.domain.selectors import Selector


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
    # Where a load balancer may reach it, beside ``address``: the port it serves on
    # (a container's first exposed TCP port), its address on each network it is
    # attached to (name → IP), and the host endpoints its ports are published on
    # (container port → ``host_ip:host_port``).
    port: int | None = None
    networks: Mapping[str, str] = field(default_factory=dict)
    published: Mapping[int, str] = field(default_factory=dict)
    # The engine's own HEALTHCHECK verdict: "healthy", "unhealthy" or "starting"; None
    # when there is none, or the engine does not say (local processes, Swarm tasks).
    health: str | None = None
    health_output: str | None = None  # what its last check printed, and its exit code


@dataclass(frozen=True, slots=True)
class ReplicaSample:
    """What one replica uses and whether it serves, read cheaply enough to poll every
    second. ``None`` means "not known" (no reading yet, another node's task, no limit
    set for the limits), never zero."""

    replica: str  # the same id as Replica.id
    ready: bool
    started_at: datetime | None  # when its process or container started
    ready_since: datetime | None  # when it last became ready (None: not ready)
    cpu_percent: float | None  # % of ONE core over the last window; None: no window yet
    cpu_limit: float | None  # cores it may use; None: unlimited
    memory_bytes: int | None
    memory_limit: int | None  # bytes; None: unlimited
    sampled_at: datetime  # when the sample was taken (the window's end)
    window: float | None  # seconds that cpu_percent covers
    leaving: bool = False  # being stopped (scaled down, replaced): policies leave it out


@dataclass(frozen=True, slots=True)
class UpgradeStrategy:
    """How a rollout replaces replicas. Swarm maps it onto its own update config
    (parallelism, delay, order, failure action, monitor); local and plain Docker
    follow it batch by batch with ``backends.rolling``."""

    batch_size: int = 1
    batch_interval: float = 0.0
    start_first: bool = False
    health_timeout: float = 60.0
    on_failure: Literal["rollback", "pause"] = "rollback"


Phase = Literal["rolling", "rolling_back"]
UpgradeOutcome = Literal["upgraded", "rolled_back", "paused", "failed", "cancelled"]
Command = Literal["cancel", "rollback"]


@dataclass(frozen=True, slots=True)
class RolloutEvent:
    """One step of a rollout, reported as it happens (the execution record shows it).

    The first event with ``phase="rolling_back"`` marks the start of a rollback;
    scalehook records that durably, so a restart finishes the rollback.
    """

    phase: Phase
    message: str
    batch: int | None = None
    batches: int | None = None
    replaced: tuple[str, ...] = ()
    started: tuple[str, ...] = ()
    ready: bool | None = None


Progress = Callable[[RolloutEvent], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class UpgradeResult:
    outcome: UpgradeOutcome
    message: str


Enforcement = Literal["engine", "cgroup2", "cgroup1", "none"]


@dataclass(frozen=True, slots=True)
class ServiceResources:
    """The CPU and memory limits of a service's replicas, and what holds them to it:
    the engine (Docker, Swarm), a cgroup per replica (local), or nothing (``none``:
    the limits are kept and shown, ``note`` says why nothing enforces them)."""

    limits: Resources
    enforced: Enforcement = "engine"
    note: str | None = None


@dataclass(frozen=True, slots=True)
class ResourcesApplied:
    """How a change of limits was applied, for its execution record."""

    message: str
    replicas: tuple[str, ...] = ()  # the replicas it was applied to in place
    restarted: bool = False  # the replicas were replaced to apply it (Swarm rolls tasks)
    enforced: Enforcement = "engine"


@dataclass(frozen=True, slots=True)
class ReplicaConnections:
    """What a load balancer in front of a service counts for one replica."""

    replica: str  # the same id as Replica.id
    ready: bool  # the balancer may send it connections now
    active: int  # connections open to it now (in flight)
    total: int  # connections it has been sent, ever: a counter (a rate is its change)
    last_connection: datetime | None  # when it was last sent one (None: never)


@dataclass(frozen=True, slots=True)
class ServiceConnections:
    """A service's connections as its load balancer sees them, read at ``sampled_at``.

    ``waiting`` are connections held for want of a ready replica (a service at zero
    being woken); ``last_connection`` is the last one that arrived for the service,
    whichever replica took it, or none did: it stays known when that replica is gone."""

    replicas: tuple[ReplicaConnections, ...]
    waiting: int
    last_connection: datetime | None
    sampled_at: datetime


@runtime_checkable
class BalancerStats(Protocol):
    """A backend whose services sit behind a load balancer it can read (the local
    backend's own balancer; HAProxy's stats for the backends it fronts). Policies'
    ``balancer`` metrics (``connections``, ``rate``) and their idle rule read this."""

    async def balancer_stats(self, *, service: str) -> ServiceConnections:
        """The service's connections now: one entry per replica the balancer knows.
        Raises ``ServiceNotFound``, or ``BackendUnsupported`` when this service has no
        balancer (a local service without a port)."""
        ...


WakeCallback = Callable[[str], Awaitable[bool]]
"""Called with a service's name when a connection arrives for it at zero replicas;
returns whether someone is starting a replica (the connection is then held), False to
close it at once."""


@runtime_checkable
class Wakeable(Protocol):
    """A backend that holds a connection to a service at zero replicas and asks for a
    replica (the local backend). The policy side registers the callback: backends never
    import the executor or the policies."""

    def on_wake(self, callback: WakeCallback | None) -> None:
        """Register the callback (None: nobody wakes services; such connections close)."""
        ...


@runtime_checkable
class Routing(Protocol):
    """A backend with a load balancer of its own (local): scalehook's health checks
    tell it which replicas may take new connections."""

    def route_to(self, *, service: str, replicas: Collection[str] | None) -> None:
        """New connections of ``service`` go only to ``replicas`` (ids) among the ready
        ones; ``None``: to every ready replica (the service has no health check)."""
        ...


class RolloutControl(Protocol):
    """What an operator asks of a running rollout, as the engine rolling it sees it.

    ``paused``: hold between batches (an engine that rolls by itself holds its own way
    and reports it with ``holding``); ``command``: ``cancel`` (stop, each replica left on
    one version: the outcome is ``cancelled``) or ``rollback`` (turn around now, to the
    previous image, whatever ``on_failure`` says). A rollback command also ends a pause.
    """

    @property
    def paused(self) -> bool: ...

    @property
    def command(self) -> Command | None: ...

    async def hold(self, where: str) -> None:
        """While paused, report that the rollout holds ``where`` (``"before batch 2/3"``)
        and wait until it is resumed or given a command; at once when not paused."""
        ...

    async def commanded(self) -> Command:
        """Wait for a command (at once if one was given)."""
        ...

    async def holding(self, where: str | None) -> None:
        """An engine that holds by itself (Swarm) reports that it now holds ``where``,
        or (``None``) that it goes on."""
        ...

    def refuse(self, commands: Collection[Command | Literal["pause"]], reason: str | None) -> None:
        """The engine cannot obey ``commands`` now (``reason`` says why), or (``None``)
        can again: an operator asking them is answered 409 with the reason."""
        ...


class Unsteered:
    """The control of a rollout nobody steers: never paused, never commanded."""

    paused = False
    command: Command | None = None

    async def hold(self, where: str) -> None:
        return

    async def commanded(self) -> Command:
        await asyncio.Event().wait()  # nobody will ever give one
        raise AssertionError("unreachable")  # pragma: no cover

    async def holding(self, where: str | None) -> None:
        return

    def refuse(self, commands: Collection[Command | Literal["pause"]], reason: str | None) -> None:
        return


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

    async def scale(self, *, service: str, replicas: int) -> None:
        """Set the desired replica count and start converging to it."""
        ...

    async def replicas(self, *, service: str) -> list[Replica]: ...

    async def samples(self, *, service: str) -> list[ReplicaSample]:
        """A sample of each replica that runs: one listing of the service, then one
        quick reading per replica, concurrently. CPU% is over the time since the
        previous call (at least ``sampling.MIN_WINDOW``): the first sample of a replica
        has ``cpu_percent=None``. Raises ``ServiceNotFound``, ``BackendUnavailable``."""
        ...

    async def resources(self, *, service: str) -> ServiceResources:
        """The limits of the service's replicas: what a new replica gets (local: the
        service's; Docker: its newest member's; Swarm: the spec's ``Resources.Limits``)."""
        ...

    async def set_resources(
        self, *, service: str, cpus: float | None, memory: int | None
    ) -> ResourcesApplied:
        """Hold each replica of the service to ``cpus`` cores and ``memory`` bytes
        (``None``: no limit), the running ones and those started later. Local and Docker
        change running replicas in place; Swarm rolls its tasks (a restart of each).
        Raises ``ServiceNotFound``, ``InvalidRequest`` (naming ``cpus`` or ``memory``),
        ``BackendRefused`` (the engine or the kernel refused, nothing changed),
        ``BackendUnavailable`` or ``BackendError``."""
        ...

    async def nodes(self) -> list[Node]:
        """The machines that run this backend's replicas, each with what it holds now
        and the most it may hold."""
        ...

    async def capacity(self, *, service: str) -> Capacity | None:
        """The most replicas ``service`` may have now (the others' taken into account),
        or None when nothing bounds it. Read under the target's lock by the executor,
        which clamps a scale-up to it."""
        ...

    async def recreate(self, *, service: str, replica: str) -> Replica:
        """Replace the replica ``replica`` (a ``Replica.id``) by a fresh one of the same
        image, the desired count unchanged; return the new replica (started, maybe not
        ready yet). Raises ``ServiceNotFound``, ``ReplicaNotFound`` (no such member),
        ``NotRecreatable`` (the engine cannot replace that one), ``Conflict`` (not now:
        a Swarm update is under way), ``BackendUnavailable`` or ``BackendError``."""
        ...

    async def upgrade(
        self,
        *,
        service: str,
        image: str,
        previous: str | None,
        strategy: UpgradeStrategy,
        progress: Progress,
        control: RolloutControl | None = None,
    ) -> UpgradeResult:
        """Roll every replica onto ``image``, health-gated, as ``strategy`` says.

        On failure roll back to ``previous`` (``on_failure="rollback"``) or stop where
        the replicas are (``"pause"``); with ``previous=None`` there is nothing to roll
        back to and a failure is ``failed``. Report each step through ``progress``, and
        obey ``control`` (pause, resume, cancel, roll back; see ``RolloutControl``).
        Called again with the same arguments (after a restart) it carries on from where
        the replicas are. Cancelled (a newer push took over, or scalehook stops), it
        leaves each replica running one image or the other, nothing half-started.
        Raises ``ServiceNotFound``, ``InvalidRequest`` (an image this engine cannot run),
        ``BackendUnavailable`` or ``BackendError``.
        """
        ...
