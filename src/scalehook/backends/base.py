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
