"""Wire shapes of the management API and the trigger (what OpenAPI shows)."""

from __future__ import annotations

import operator
from datetime import datetime
from functools import reduce
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from scalehook.backends import Replica, ReplicaSample, ServiceState
from scalehook.backends.base import ServiceResources
from scalehook.domain.capacity import Node
from scalehook.domain.executions import execution_json
from scalehook.domain.health import CheckResult, HealthState, ReplicaHealth
from scalehook.domain.healthchecks import HealthCheckSpec
from scalehook.domain.policies import Sample
from scalehook.domain.receivers import Receiver, has_secret, public_config
from scalehook.domain.resources import (
    KEEP,
    ResourcesChange,
    format_memory,
    parse_cpus,
    parse_memory,
)
from scalehook.domain.revisions import Revision
from scalehook.domain.rollout_views import RolloutView
from scalehook.drivers import DRIVERS, Driver
from scalehook.drivers.upgrade_service import RolloutSettings
from scalehook.health import CheckView

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]*$"


class ReceiverFields(BaseModel):
    """What every receiver has, whatever its driver."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=100,
        pattern=NAME_PATTERN,
        description="unique; starts with a letter",
    )
    enabled: bool = True
    dry_run: bool = Field(
        default=False, description="decide and record what would be done; change nothing"
    )
    paused: bool = Field(
        default=False, description="answer 200 and record 'paused'; decide nothing"
    )


def _receiver_create(driver: Driver[Any]) -> type[ReceiverFields]:
    """The body that creates a receiver of ``driver``: its name is the tag, its config model
    the ``config``."""
    title = driver.name[0].upper() + driver.name[1:]
    model: type[ReceiverFields] = create_model(
        f"{title}ReceiverCreate",
        __base__=ReceiverFields,
        __doc__=f"A {driver.name} receiver.",
        driver=(Literal[driver.name], Field(description="what the receiver does")),  # type: ignore[arg-type]
        config=(driver.config_model, Field(description=f"the {driver.name} driver's settings")),
    )
    return model


RECEIVER_CREATES = tuple(_receiver_create(d) for d in DRIVERS.values())
BODY_TAGS = frozenset(DRIVERS)
"""The tags of the tagged unions in request bodies (the drivers): pydantic puts a tag in
an error's location (``body.scaleService.config.amount``), which no caller wrote."""

if TYPE_CHECKING:

    class ReceiverCreate(ReceiverFields):
        driver: str
        config: BaseModel
else:
    ReceiverCreate = Annotated[
        reduce(operator.or_, RECEIVER_CREATES), Field(discriminator="driver")
    ]
    """A new receiver: its driver says what its config holds."""


class ReceiverUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100, pattern=NAME_PATTERN)
    enabled: bool | None = None
    dry_run: bool | None = None
    paused: bool | None = None
    config: dict[str, Any] | None = Field(
        default=None, description="keys to change; the others keep their values"
    )


class ReceiverOut(BaseModel):
    id: int
    name: str
    driver: str
    config: dict[str, Any] = Field(description="the driver's settings, without any secret")
    has_secret: bool = Field(default=False, description="a secret is set (it is never shown)")
    enabled: bool
    dry_run: bool
    paused: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, receiver: Receiver) -> ReceiverOut:
        return cls(
            id=receiver.id,
            name=receiver.name,
            driver=receiver.driver,
            config=public_config(receiver.config),
            has_secret=has_secret(receiver.config),
            enabled=receiver.enabled,
            dry_run=receiver.dry_run,
            paused=receiver.paused,
            created_at=receiver.created_at,
            updated_at=receiver.updated_at,
        )


class ReceiverWithUrl(ReceiverOut):
    url: str = Field(description="the trigger URL; its key is shown only now")


class ExecutionOut(BaseModel):
    id: int
    started_at: datetime
    receiver_id: int | None
    receiver_name: str | None
    driver: str
    target: str | None
    caller: str | None
    result: str
    before: int | None
    after: int | None
    message: str
    duration_ms: float
    details: dict[str, Any]
    status: str = Field(description="running (a rollout going on) or done")
    updated_at: datetime | None


execution_dict = execution_json
"""The JSON form of an execution (``domain/executions.py``: a webhook notification
carries the same)."""


class ServiceOut(BaseModel):
    name: str
    backend: str
    ref: str = Field(description="backend/name, unique across backends")
    labels: dict[str, str]
    desired: int
    running: int
    ready: int
    image: str | None
    scalable: bool
    mode: str

    @classmethod
    def of(cls, state: ServiceState) -> ServiceOut:
        return cls(
            name=state.name,
            backend=state.backend,
            ref=state.ref,
            labels=dict(state.labels),
            desired=state.desired,
            running=state.running,
            ready=state.ready,
            image=state.image,
            scalable=state.scalable,
            mode=state.mode,
        )


class CheckOut(BaseModel):
    ok: bool | None = Field(description="passed, failed, or null: no verdict (still starting)")
    detail: str = Field(description="e.g. HTTP 200, connection refused, timeout after 2s ...")
    at: datetime
    duration_ms: float

    @classmethod
    def of(cls, result: CheckResult) -> CheckOut:
        return cls(ok=result.ok, detail=result.detail, at=result.at, duration_ms=result.duration_ms)


class ReplicaHealthOut(BaseModel):
    replica: str
    state: HealthState = Field(description="initializing, healthy, unhealthy or reinitializing")
    since: datetime = Field(description="when it entered this state")
    reason: str = Field(description="why it is in this state")
    passes: int = Field(description="passing checks in a row")
    failures: int = Field(description="failed checks in a row")
    overdue: bool = Field(description="still (re)initializing past its timeout (strategy none)")
    replacing: str | None = Field(description="the replica it was made to replace")
    last_check: CheckOut | None

    @classmethod
    def of(cls, health: ReplicaHealth) -> ReplicaHealthOut:
        return cls(
            replica=health.replica,
            state=health.state,
            since=health.since,
            reason=health.reason,
            passes=health.passes,
            failures=health.failures,
            overdue=health.overdue,
            replacing=health.replacing,
            last_check=None if health.last is None else CheckOut.of(health.last),
        )


class HealthCheckOut(BaseModel):
    service: str = Field(description="the service's ref, backend/name")
    source: Literal["api", "file"] = Field(
        description="api: set through the API (it replaces the file's while it exists); "
        "file: declared in scalehook.yaml"
    )
    check: HealthCheckSpec
    declared: HealthCheckSpec | None = Field(
        description="the check scalehook.yaml declares, when the API's replaces it"
    )
    created_at: datetime | None
    updated_at: datetime | None
    watched: bool = Field(description="this instance checks it now (it leads)")
    checked_at: datetime | None = Field(description="when its replicas were last checked")
    error: str | None = Field(description="why the last round could not read the service")
    all_failing: bool = Field(description="every replica fails the check (reported once)")
    held: list[str] = Field(description="why failing replicas are left in place, if they are")
    recreations_in_window: int = Field(description="recreations in the last recreation_window")
    replicas: list[ReplicaHealthOut]

    @classmethod
    def of(cls, view: CheckView, *, now: float) -> HealthCheckOut:
        watch = view.watch
        window = view.spec.recreation_window
        plan = None if watch is None else watch.last_plan
        return cls(
            service=view.service,
            source=view.source,
            check=view.spec,
            declared=view.declared,
            created_at=view.created_at,
            updated_at=view.updated_at,
            watched=watch is not None,
            checked_at=None if watch is None else watch.checked_at,
            error=None if watch is None else watch.error,
            all_failing=False if plan is None else plan.all_failing,
            held=[] if plan is None else sorted({h.message for h in plan.holds}),
            recreations_in_window=0
            if watch is None
            else sum(1 for t in watch.recreations if now - t < window),
            replicas=[]
            if watch is None
            else [ReplicaHealthOut.of(h) for _, h in sorted(watch.states.items())],
        )


class ReplicaOut(BaseModel):
    id: str
    state: str
    ready: bool
    address: str | None
    pid: int | None
    started_at: datetime | None
    image: str | None
    restarts: int
    ready_since: datetime | None = Field(description="when it last became ready")
    cpu_percent: float | None = Field(
        description="% of one core over the last cpu_window; null: not known yet (the "
        "first sample of a replica, or a Swarm task on another node), never 0 for unknown"
    )
    cpu_window: float | None = Field(description="seconds that cpu_percent covers")
    cpu_limit: float | None = Field(description="cores it may use; null: no limit")
    memory_bytes: int | None
    memory_limit: int | None = Field(description="bytes it may use; null: no limit")
    sampled_at: datetime | None
    health: ReplicaHealthOut | None = Field(
        default=None,
        description="its health check's verdict; null when the service has none, or this "
        "replica has not been checked yet",
    )

    @classmethod
    def of(
        cls, replica: Replica, sample: ReplicaSample | None, health: ReplicaHealth | None = None
    ) -> ReplicaOut:
        return cls(
            health=None if health is None else ReplicaHealthOut.of(health),
            id=replica.id,
            state=replica.state,
            ready=replica.ready,
            address=replica.address,
            pid=replica.pid,
            started_at=replica.started_at,
            image=replica.image,
            restarts=replica.restarts,
            ready_since=None if sample is None else sample.ready_since,
            cpu_percent=None if sample is None else sample.cpu_percent,
            cpu_window=None if sample is None else sample.window,
            cpu_limit=None if sample is None else sample.cpu_limit,
            memory_bytes=None if sample is None else sample.memory_bytes,
            memory_limit=None if sample is None else sample.memory_limit,
            sampled_at=None if sample is None else sample.sampled_at,
        )


class ResourcesOut(BaseModel):
    cpus: float | None = Field(description="cores each replica may use; null: no limit")
    memory: int | None = Field(description="bytes each replica may use; null: no limit")
    memory_text: str | None = Field(description="the same, as people write it: 256Mi")
    enforced: str = Field(
        description="what holds replicas to them: engine (Docker, Swarm), cgroup2 or "
        "cgroup1 (local), none (kept and shown; nothing enforces them: see note)"
    )
    note: str | None = None

    @classmethod
    def of(cls, found: ServiceResources) -> ResourcesOut:
        limits = found.limits
        return cls(
            cpus=limits.cpus,
            memory=limits.memory,
            memory_text=None if limits.memory is None else format_memory(limits.memory),
            enforced=found.enforced,
            note=found.note,
        )


class ServiceDetail(ServiceOut):
    resources: ResourcesOut | None = Field(
        default=None, description="the replicas' CPU and memory limits (null: not readable)"
    )
    replicas: list[ReplicaOut]
    health_check: HealthCheckSpec | None = Field(
        default=None, description="the service's health check, if it has one"
    )


class ResourcesRequest(BaseModel):
    """A change of limits: give ``cpus``, ``memory`` or both; ``null`` removes one."""

    model_config = ConfigDict(extra="forbid")

    cpus: float | None = Field(default=None, description="cores per replica, e.g. 0.5")
    memory: int | str | None = Field(
        default=None, description="bytes per replica: 268435456, or '256Mi', '1Gi', '512M'"
    )

    @field_validator("cpus", mode="before")
    @classmethod
    def _cpus(cls, value: object) -> float | None:
        return None if value is None else parse_cpus(value)

    @field_validator("memory", mode="before")
    @classmethod
    def _memory(cls, value: object) -> int | None:
        return None if value is None else parse_memory(value)

    def change(self) -> ResourcesChange:
        given = self.model_fields_set
        memory = self.memory if not isinstance(self.memory, str) else parse_memory(self.memory)
        return ResourcesChange(
            cpus=self.cpus if "cpus" in given else KEEP,
            memory=memory if "memory" in given else KEEP,
        )


class NodeOut(BaseModel):
    backend: str
    kind: str = Field(description="local, docker or swarm")
    id: str
    name: str
    state: str = Field(description="ready, or a Swarm node's state (down, unknown...)")
    role: str | None = Field(description="a Swarm node's role: manager or worker")
    availability: str | None = Field(description="a Swarm node's: active, pause, drain")
    cpus: float | None
    memory: int | None = Field(description="bytes")
    replicas: int | None = Field(
        description="replicas (local, docker) or tasks (swarm) it runs now; null: not read"
    )
    max_replicas: int | None = Field(
        description="the most it may hold; null: no count bounds it (a Swarm node without "
        "the scalehook.max_tasks label is bounded by its tasks' reservations alone)"
    )
    free: int | None = Field(description="max_replicas less replicas")
    bound: str = Field(
        description="where max_replicas comes from: setting (max_replicas), default (of the "
        "machine), label (scalehook.max_tasks), reservations, none"
    )
    reserved_cpus: float | None = Field(description="what its tasks reserve (Swarm)")
    reserved_memory: int | None
    full: bool = Field(description="no room for one more: at its most, or fully reserved")
    labels: dict[str, str]
    services: dict[str, int] = Field(description="replicas or tasks per service")
    note: str | None = None
    error: str | None = Field(default=None, description="the backend could not be read: why")

    @classmethod
    def of(cls, node: Node) -> NodeOut:
        return cls(
            backend=node.backend,
            kind=node.kind,
            id=node.id,
            name=node.name,
            state=node.state,
            role=node.role,
            availability=node.availability,
            cpus=node.cpus,
            memory=node.memory,
            replicas=node.replicas,
            max_replicas=node.max_replicas,
            free=node.free,
            bound=node.bound,
            reserved_cpus=node.reserved_cpus,
            reserved_memory=node.reserved_memory,
            full=node.free == 0 or node.reservations_full,
            labels=dict(node.labels),
            services=dict(node.services),
            note=node.note,
        )


class ScaleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    replicas: int = Field(strict=True, ge=0, le=10_000)


class Health(BaseModel):
    status: str
    version: str
    leader: bool = Field(description="this instance leads: the loops run here")
    instance: str = Field(description="this instance's id")


class PolicyOut(BaseModel):
    """A policy: each field as it was given, or its default; ``effective`` is the whole
    policy as the loop evaluates it (defaults filled in, durations in seconds)."""

    model_config = ConfigDict(extra="allow")

    id: int
    name: str
    service: str | None = Field(
        default=None, description="the service it scales (a name, or backend/name)"
    )
    hosts: dict[str, Any] | None = Field(
        default=None,
        description="or the host group it scales: its selector (the labels its hosts "
        "carry), remove_policy and drain_timeout",
    )
    target: str = Field(description="what it scales: the service, or hosts/label=value")
    min: int
    max: int
    interval: Any
    metrics: list[Any]
    dry_run: bool
    paused: bool
    effective: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    warnings: list[str] = Field(
        default_factory=list,
        description="what may fail until it changes (a Prometheus that cannot be reached)",
    )
    evaluations: list[dict[str, Any]] | None = Field(
        default=None,
        description="GET of one policy: its last evaluations, newest first (time, values, "
        "recommendation, what was done, errors), kept in memory on the instance that "
        "leads, at most 20; null on an instance that does not lead",
    )
    last_scaling: ExecutionOut | None = Field(
        default=None,
        description="GET of one policy: the newest execution by which it moved the count "
        "(from the audit trail, on any instance); its details say why",
    )


class SimulationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy: dict[str, Any] = Field(description="a policy body, as for POST /v1/policies")
    current: int = Field(strict=True, ge=0, le=10_000, description="replicas now")
    samples: dict[str, list[Sample]] = Field(
        default_factory=dict,
        description="by metric name: one entry per replica (per-replica metrics), or one "
        "entry (a service-wide metric such as a Prometheus query)",
    )


class SimulationOut(BaseModel):
    current: int
    recommendation: int
    desired: int
    metrics: list[dict[str, Any]]
    winner: str | None
    limited_by: list[str]
    reasons: list[str]


class RevisionOut(BaseModel):
    number: int = Field(description="1, 2, 3... per service")
    service: str = Field(description="backend/name")
    change: str = Field(description="image, or resources")
    image: str | None = Field(description="the image the service runs with this revision")
    previous_image: str | None
    resources: dict[str, Any] | None = Field(description="what a resources change set")
    reason: str = Field(description="why: a push, an upgrade or a rollback by hand...")
    outcome: str = Field(
        description="initial (what it ran before scalehook changed it), or its execution's "
        "result: upgrading, upgraded, rolled_back, failed, paused, superseded, cancelled"
    )
    live: bool = Field(description="the newest revision that succeeded: what the service runs")
    rollback_of: int | None = Field(description="the revision a rollback went back to")
    execution_id: int | None
    driver: str | None = Field(description="serviceUpgrade, api...")
    receiver_id: int | None
    receiver_name: str | None
    caller: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, revision: Revision, *, live: bool) -> RevisionOut:
        return cls(
            number=revision.number,
            service=revision.target,
            change=revision.change,
            image=revision.image,
            previous_image=revision.previous_image,
            resources=revision.resources,
            reason=revision.reason,
            outcome=revision.outcome,
            live=live,
            rollback_of=revision.rollback_of,
            execution_id=revision.execution_id,
            driver=revision.driver,
            receiver_id=revision.receiver_id,
            receiver_name=revision.receiver_name,
            caller=revision.caller,
            created_at=revision.created_at,
            updated_at=revision.updated_at,
        )


class UpgradeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image: str = Field(
        max_length=512, description="repo:tag (or @digest) of the repository it runs"
    )
    strategy: RolloutSettings = Field(
        default_factory=RolloutSettings,
        description="batch_size, batch_interval, start_first, health_timeout, on_failure: "
        "the serviceUpgrade defaults",
    )


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    revision: int | None = Field(
        default=None,
        strict=True,
        ge=1,
        description="the revision to go back to; default: the newest that succeeded with "
        "another image than the one it runs",
    )
    strategy: RolloutSettings = Field(default_factory=RolloutSettings)


class RolloutOut(BaseModel):
    id: int
    execution_id: int
    service: str
    from_image: str | None = Field(serialization_alias="from")
    to_image: str | None = Field(serialization_alias="to")
    heading: str | None = Field(description="the image it moves replicas to now")
    phase: str = Field(description="rolling, rolling_back or done")
    state: str = Field(
        description="rolling, pausing, paused, rolling_back, cancelling; once done its result"
    )
    status: str = Field(description="running or done")
    result: str
    paused: bool = Field(description="asked to pause (it holds between batches)")
    holding: str | None = Field(description="where it holds now, while paused")
    command: str | None = Field(description="a cancel or rollback asked, not yet obeyed")
    refused: dict[str, str] = Field(description="commands the engine cannot obey now, and why")
    batches_done: int = Field(description="batches done in the phase under way")
    batches_total: int | None
    replicas_ready: int | None = Field(description="now; null: not known (or done)")
    replicas_desired: int | None
    replicas_on_target: int | None = Field(description="replicas running the heading image")
    revision: int | None = Field(description="the revision this rollout makes")
    started_at: datetime
    updated_at: datetime | None
    elapsed_seconds: float
    driver: str = Field(description="who started it: serviceUpgrade (a push) or api")
    receiver_name: str | None
    caller: str | None
    message: str

    @classmethod
    def of(cls, view: RolloutView) -> RolloutOut:
        return cls(
            id=view.id,
            execution_id=view.execution_id,
            service=view.service,
            from_image=view.from_image,
            to_image=view.to_image,
            heading=view.heading,
            phase=view.phase,
            state=view.state,
            status=view.status,
            result=view.result,
            paused=view.paused,
            holding=view.holding,
            command=view.command,
            refused=dict(view.refused),
            batches_done=view.batches_done,
            batches_total=view.batches_total,
            replicas_ready=view.counts.ready,
            replicas_desired=view.counts.desired,
            replicas_on_target=view.counts.on_target,
            revision=view.revision,
            started_at=view.started_at,
            updated_at=view.updated_at,
            elapsed_seconds=round(view.elapsed, 3),
            driver=view.driver,
            receiver_name=view.receiver_name,
            caller=view.caller,
            message=view.message,
        )
