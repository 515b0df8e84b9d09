"""/v1/services: what the backends run, and scaling by hand (recorded like a trigger)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from scalehook.api.deps import RuntimeDep, caller_address, require_admin
from scalehook.api.schemas import (
    BODY_ERRORS,
    ErrorOut,
    ExecutionOut,
    ReplicaOut,
    ScaleRequest,
    ServiceDetail,
    ServiceOut,
    execution_dict,
)
from scalehook.domain.decisions import decide_replicas
from scalehook.domain.selectors import Selector
from scalehook.recording import Audit

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
    """A service with its replicas: readiness, a sample of each (CPU% since the
    previous sample, so the first one after a replica starts has none; memory; limits)
    and, where the service has a health check, each replica's health."""
    backend, name = await runtime.backends.resolve(ref)
    state = await backend.get_service(service=name)
    replicas = await backend.replicas(service=name)
    samples = {s.replica: s for s in await backend.samples(service=name)}
    health = runtime.health.replicas(state.ref) or {}
    return ServiceDetail(
        **ServiceOut.of(state).model_dump(),
        replicas=[ReplicaOut.of(r, samples.get(r.id), health.get(r.id)) for r in replicas],
        health_check=runtime.health.check_of(state.ref),
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
