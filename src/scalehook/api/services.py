"""/v1/services: what the backends run, and scaling by hand (recorded like a trigger)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from scalehook.answers import AUTH, BODY, ENGINE, errors
from scalehook.api.deps import RuntimeDep, caller_address, require_admin
from scalehook.api.schemas import (
    ExecutionOut,
    ReplicaOut,
    ScaleRequest,
    ServiceDetail,
    ServiceOut,
    execution_dict,
)
from scalehook.backends.registry import none_read
from scalehook.domain.decisions import decide_replicas
from scalehook.domain.selectors import Selector
from scalehook.recording import Audit

UNAVAILABLE_HEADER = "X-Unavailable-Backends"
"""Names the backends (comma-separated) a list of services could not read."""

router = APIRouter(
    prefix="/v1/services",
    tags=["services"],
    dependencies=[Depends(require_admin)],
    responses=errors(*AUTH),
)
NO_BACKEND = {
    503: "no backend could be read, one of them because its engine is unreachable "
    "(backend_unavailable); the message names each backend and why"
}


@router.get(
    "",
    operation_id="listServices",
    response_model=list[ServiceOut],
    responses={
        200: {
            "headers": {
                UNAVAILABLE_HEADER: {
                    "description": "the backends that could not be read (comma-separated): "
                    "their services are missing from the list",
                    "required": False,
                    "schema": {"type": "string"},
                }
            }
        },
        **errors(422, *ENGINE, said=NO_BACKEND),
    },
)
async def list_services(
    runtime: RuntimeDep,
    response: Response,
    selector: Annotated[str | None, Query(description="labels, e.g. tier=front,app=")] = None,
) -> list[ServiceOut]:
    """Every backend's services. A backend that cannot be read is named in the
    ``X-Unavailable-Backends`` header (its services are missing from the list); when
    none can be read, the answer is that error (503 when an engine is unreachable),
    never an empty list."""
    services, failed = await runtime.backends.read_services(selector=Selector.parse(selector))
    if failed and len(failed) == len(runtime.backends):
        raise none_read(failed)
    if failed:
        response.headers[UNAVAILABLE_HEADER] = ", ".join(sorted(failed))
    return [ServiceOut.of(s) for s in services]


@router.get(
    "/{ref:path}",
    operation_id="getService",
    response_model=ServiceDetail,
    responses=errors(404, 422, *ENGINE),
)
async def get_service(ref: str, runtime: RuntimeDep) -> ServiceDetail:
    """A service with its replicas: readiness, and a sample of each (CPU% since the
    previous sample, so the first one after a replica starts has none; memory; limits)."""
    backend, name = await runtime.backends.resolve(ref)
    state = await backend.get_service(service=name)
    replicas = await backend.replicas(service=name)
    samples = {s.replica: s for s in await backend.samples(service=name)}
    return ServiceDetail(
        **ServiceOut.of(state).model_dump(),
        replicas=[ReplicaOut.of(r, samples.get(r.id)) for r in replicas],
    )


@router.post(
    "/{ref:path}/scale",
    operation_id="scaleService",
    response_model=ExecutionOut,
    responses=errors(*BODY, *ENGINE, 404),
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
