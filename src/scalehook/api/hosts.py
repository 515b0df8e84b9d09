"""/v1/hosts: the Swarm's hosts with their load; add a host to a group, or remove one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from scalehook.answers import AUTH, BODY, ENGINE, errors
from scalehook.api.deps import RuntimeDep, caller_address, require_admin
from scalehook.api.schemas import ExecutionOut, execution_dict
from scalehook.domain.durations import parse_duration
from scalehook.domain.hosts import Host
from scalehook.domain.selectors import Selector
from scalehook.drivers.scale_host import add_host, host_manager, remove_host
from scalehook.errors import InvalidRequest
from scalehook.hosts.manager import check_labels
from scalehook.recording import Audit

router = APIRouter(
    prefix="/v1/hosts",
    tags=["hosts"],
    dependencies=[Depends(require_admin)],
    responses=errors(*AUTH),
)
REMOVAL_REFUSED = (
    "the host must not be removed (a manager, protected, scalehook's own), or the provider "
    "cannot do it as configured"
)
NOT_CONFIGURED = {422: "host scaling is not configured, or a field that never works as sent"}


class HostLoadOut(BaseModel):
    running_tasks: int
    cpu_reserved: float
    cpu_total: float
    memory_reserved: int
    memory_total: int


class HostOut(BaseModel):
    id: str
    name: str
    state: str = Field(description="ready, down, disconnected, unknown or error")
    availability: str
    role: str
    labels: dict[str, str]
    provider: str | None
    created: datetime
    address: str | None
    cloneable: bool
    removable: bool
    protected_because: str | None = Field(description="why it is never removed, if it is not")
    load: HostLoadOut

    @classmethod
    def of(cls, host: Host) -> HostOut:
        reason = host.removable()
        return cls(
            id=host.id,
            name=host.name,
            state=host.state,
            availability=host.availability,
            role=host.role,
            labels=dict(host.labels),
            provider=host.provider,
            created=host.created,
            address=host.address,
            cloneable=host.cloneable,
            removable=reason is None,
            protected_because=reason,
            load=HostLoadOut(
                running_tasks=host.load.running_tasks,
                cpu_reserved=host.load.cpu_reserved,
                cpu_total=host.load.cpu_total,
                memory_reserved=host.load.memory_reserved,
                memory_total=host.load.memory_total,
            ),
        )


class HostCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str = Field(description="netns or libcloud")
    labels: dict[str, str] = Field(description='the host\'s labels, e.g. {"group": "batch"}')
    name: str | None = Field(
        default=None, pattern=r"^[a-z0-9][a-z0-9-]{0,39}$", description="default: from labels"
    )


class HostCreated(HostOut):
    execution_id: int


@router.get(
    "",
    operation_id="listHosts",
    response_model=list[HostOut],
    responses=errors(422, *ENGINE, said=NOT_CONFIGURED),
)
async def list_hosts(
    runtime: RuntimeDep,
    selector: Annotated[str | None, Query(description="labels, e.g. group=batch")] = None,
) -> list[HostOut]:
    hosts = host_manager(runtime.executor)
    return [HostOut.of(h) for h in await hosts.list(Selector.parse(selector))]


@router.post(
    "",
    operation_id="addHost",
    status_code=201,
    response_model=HostCreated,
    responses=errors(*BODY, *ENGINE, said=NOT_CONFIGURED),
)
async def create_host(body: HostCreate, request: Request, runtime: RuntimeDep) -> HostCreated:
    """Make one host (e.g. a group's first); answers once it is Ready in the Swarm."""
    hosts = host_manager(runtime.executor)
    check_labels(body.labels)
    host, execution = await add_host(
        hosts,
        runtime.executor,
        provider=body.provider,
        labels=body.labels,
        name=body.name,
        audit=Audit(driver="api", caller=caller_address(request)),
    )
    return HostCreated(**HostOut.of(host).model_dump(), execution_id=execution.id)


@router.delete(
    "/{ident}",
    operation_id="removeHost",
    response_model=ExecutionOut,
    responses=errors(
        404,
        422,
        *ENGINE,
        said={409: REMOVAL_REFUSED},
    ),
)
async def delete_host(
    ident: str,
    request: Request,
    runtime: RuntimeDep,
    drain_timeout: Annotated[str | None, Query(description="e.g. 2m; default from config")] = None,
) -> dict[str, object]:
    """Drain one host (its tasks move elsewhere), then destroy it and remove its node."""
    hosts = host_manager(runtime.executor)
    assert runtime.settings.hosts is not None
    timeout = runtime.settings.hosts.drain_timeout
    if drain_timeout is not None:
        timeout = _duration(drain_timeout)
    execution = await remove_host(
        hosts,
        runtime.executor,
        ident=ident,
        drain_timeout=timeout,
        audit=Audit(driver="api", caller=caller_address(request)),
    )
    return execution_dict(execution)


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise InvalidRequest(f"drain_timeout: {exc}", field="drain_timeout") from exc
