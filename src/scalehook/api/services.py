"""/v1/services: what the backends run, scaling by hand and changing its CPU and memory
limits (both recorded like a trigger, with driver ``api``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from scalehook.api.deps import RuntimeDep, caller_address, require_admin
from scalehook.api.schemas import (
    BODY_ERRORS,
    ErrorOut,
    ExecutionOut,
    ReplicaOut,
    ResourcesOut,
    ResourcesRequest,
    ScaleRequest,
    ServiceDetail,
    ServiceOut,
    execution_dict,
)
from scalehook.domain.decisions import decide_replicas
from scalehook.domain.selectors import Selector
from scalehook.errors import ScalehookError
from scalehook.recording import Audit
from scalehook.resource_changes import change_resources

router = APIRouter(
    prefix="/v1/services",
    tags=["services"],
    dependencies=[Depends(require_admin)],
    responses={401: {"model": ErrorOut}, 503: {"model": ErrorOut}},
)


@router.get("", response_model=list[ServiceOut])
async def list_services(
    runtime: RuntimeDep,
    selector: Annotated[str | None, Query(description="labels, e.g. tier=front,app=")] = None,
) -> list[ServiceOut]:
    services = await runtime.backends.list_services(selector=Selector.parse(selector))
    return [ServiceOut.of(s) for s in services]


@router.get("/{ref:path}", response_model=ServiceDetail, responses={404: {"model": ErrorOut}})
async def get_service(ref: str, runtime: RuntimeDep) -> ServiceDetail:
    """A service with its replicas: readiness, and a sample of each (CPU% since the
    previous sample, so the first one after a replica starts has none; memory; limits)."""
    backend, name = await runtime.backends.resolve(ref)
    state = await backend.get_service(service=name)
    replicas = await backend.replicas(service=name)
    samples = {s.replica: s for s in await backend.samples(service=name)}
    try:
        resources: ResourcesOut | None = ResourcesOut.of(await backend.resources(service=name))
    except ScalehookError:  # e.g. its last container went away meanwhile
        resources = None
    return ServiceDetail(
        **ServiceOut.of(state).model_dump(),
        resources=resources,
        replicas=[ReplicaOut.of(r, samples.get(r.id)) for r in replicas],
    )


@router.post(
    "/{ref:path}/scale",
    response_model=ExecutionOut,
    responses={**BODY_ERRORS, 404: {"model": ErrorOut}},
)
async def scale_service(
    ref: str, body: ScaleRequest, request: Request, runtime: RuntimeDep
) -> dict[str, object]:
    """Set the replica count; recorded in the audit trail with driver ``api``."""
    execution = await runtime.executor.scale(
        service=ref,
        decide=lambda state: decide_replicas(current=state.desired, replicas=body.replicas),
        audit=Audit(driver="api", caller=caller_address(request)),
    )
    return execution_dict(execution)


@router.post(
    "/{ref:path}/resources",
    response_model=ExecutionOut,
    operation_id="setResources",
    responses={
        **BODY_ERRORS,
        404: {"model": ErrorOut},
        409: {"model": ErrorOut, "description": "not now, and why (a rollout runs on it)"},
        422: {"model": ErrorOut, "description": "a limit that cannot be (the field named)"},
        502: {"model": ErrorOut},
    },
)
async def set_resources(
    ref: str, body: ResourcesRequest, request: Request, runtime: RuntimeDep
) -> dict[str, object]:
    """Set the CPU (cores) and memory limits of each replica: ``cpus``, ``memory`` or
    both; ``null`` removes a limit, a limit not given stays. Local: each replica's
    cgroup, no restart; Docker: a container update, no restart; Swarm: a service update,
    which restarts every task. Recorded with driver ``api``, before and after in
    ``details.resources``; refused (409) while a rollout runs on the service."""
    execution = await change_resources(
        runtime.executor,
        ref,
        body.change(),
        Audit(driver="api", caller=caller_address(request)),
    )
    return execution_dict(execution)
