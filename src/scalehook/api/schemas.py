"""Wire shapes of the management API and the trigger (what OpenAPI shows)."""

from __future__ import annotations

import operator
from datetime import datetime
from functools import reduce
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from scalehook.backends import Replica, ReplicaSample, ServiceState
from scalehook.domain.executions import Execution
from scalehook.domain.receivers import Receiver, has_secret, public_config
from scalehook.drivers import DRIVERS, Driver

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


def execution_dict(execution: Execution) -> dict[str, Any]:
    """The JSON form of an execution, built without a model (the trigger's hot path)."""
    return {
        "id": execution.id,
        "started_at": execution.started_at.isoformat(),
        "receiver_id": execution.receiver_id,
        "receiver_name": execution.receiver_name,
        "driver": execution.driver,
        "target": execution.target,
        "caller": execution.caller,
        "result": execution.result,
        "before": execution.before,
        "after": execution.after,
        "message": execution.message,
        "duration_ms": execution.duration_ms,
        "details": execution.details,
        "status": execution.status,
        "updated_at": None if execution.updated_at is None else execution.updated_at.isoformat(),
    }


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

    @classmethod
    def of(cls, replica: Replica, sample: ReplicaSample | None) -> ReplicaOut:
        return cls(
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


class ServiceDetail(ServiceOut):
    replicas: list[ReplicaOut]


class ScaleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    replicas: int = Field(strict=True, ge=0, le=10_000)


class Health(BaseModel):
    status: str
    version: str
    leader: bool = Field(description="this instance leads: the loops run here")
    instance: str = Field(description="this instance's id")
