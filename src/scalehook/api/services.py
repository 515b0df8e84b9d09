"""/v1/services: what the backends run; scaling, upgrading and rolling back by hand and
changing CPU and memory limits (each recorded like a trigger, with driver ``api``); a
service's revisions."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from scalehook.answers import AUTH, BODY, ENGINE, errors
from scalehook.api.deps import RuntimeDep, caller_address, require_admin, service_targets
from scalehook.api.schemas import (
    ExecutionOut,
    ReplicaOut,
    ResourcesOut,
    ResourcesRequest,
    RevisionOut,
    RollbackRequest,
    ScaleRequest,
    ServiceDetail,
    ServiceOut,
    UpgradeRequest,
    execution_dict,
)
from scalehook.backends.registry import none_read
from scalehook.domain.decisions import decide_replicas
from scalehook.domain.executions import Execution
from scalehook.domain.revisions import live
from scalehook.domain.selectors import Selector
from scalehook.errors import ScalehookError
from scalehook.manual_rollouts import rollback_by_hand, upgrade_by_hand
from scalehook.recording import Audit
from scalehook.resource_changes import change_resources

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
    "/{ref:path}/revisions",
    response_model=list[RevisionOut],
    operation_id="listRevisions",
    responses=errors(404, 422, *ENGINE),
)
async def list_revisions(ref: str, runtime: RuntimeDep) -> list[RevisionOut]:
    """Every revision of the service, oldest first: each change of its image (a push, an
    upgrade or a rollback by hand) with when, why and its outcome. Revision 1 is what it
    ran when scalehook first changed it; none until then."""
    for target in await service_targets(runtime, ref):
        revisions = await runtime.store.revisions.of(target)
        if revisions:
            current = live(revisions)
            return [RevisionOut.of(r, live=r is current) for r in revisions]
    await runtime.backends.resolve(ref)  # ServiceNotFound for a service never seen
    return []


@router.get(
    "/{ref:path}",
    operation_id="getService",
    response_model=ServiceDetail,
    responses=errors(404, 422, *ENGINE),
)
async def get_service(ref: str, runtime: RuntimeDep) -> ServiceDetail:
    """A service with its replicas: readiness, a sample of each (CPU% since the
    previous sample, so the first one after a replica starts has none; memory; limits)
    and, where the service has a health check, each replica's health."""
    backend, name = await runtime.backends.resolve(ref)
    state = await backend.get_service(service=name)
    replicas = await backend.replicas(service=name)
    samples = {s.replica: s for s in await backend.samples(service=name)}
    try:
        resources: ResourcesOut | None = ResourcesOut.of(await backend.resources(service=name))
    except ScalehookError:  # e.g. its last container went away meanwhile
        resources = None
    health = runtime.health.replicas(state.ref) or {}
    return ServiceDetail(
        **ServiceOut.of(state).model_dump(),
        resources=resources,
        replicas=[ReplicaOut.of(r, samples.get(r.id), health.get(r.id)) for r in replicas],
        health_check=runtime.health.check_of(state.ref),
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


@router.post(
    "/{ref:path}/resources",
    response_model=ExecutionOut,
    operation_id="setResources",
    responses=errors(
        *BODY,
        *ENGINE,
        404,
        said={
            409: "not now, and why: a rollout runs on the service, or Swarm is updating it",
            422: "a limit that cannot be (invalid_request); `field` names it: cpus, memory",
        },
    ),
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


_STARTED: dict[int | str, dict[str, Any]] = {
    200: {
        "model": ExecutionOut,
        "description": "nothing to do: a recorded noop",
    },
    202: {"model": ExecutionOut, "description": "the rollout started; it runs in the background"},
    **errors(
        *BODY,
        *ENGINE,
        404,
        said={
            404: "no such service, or no such revision of it (not_found)",
            409: "not now, and why (e.g. a rollout runs on it), or the engine as configured "
            "cannot do it (backend_unsupported)",
        },
    ),
}


@router.post(
    "/{ref:path}/upgrade",
    response_model=ExecutionOut,
    operation_id="upgradeService",
    status_code=202,
    responses=_STARTED,
)
async def upgrade_service(
    ref: str, body: UpgradeRequest, request: Request, runtime: RuntimeDep
) -> Response:
    """Roll the service onto ``image`` (a tag or digest of the repository it runs) through
    the same rolling, health-gated path as a push; recorded with driver ``api``. Like a
    push, it supersedes a rollout running on the service (the answer says which)."""
    execution, status = await upgrade_by_hand(
        runtime.executor,
        ref,
        body.image,
        body.strategy,
        Audit(driver="api", caller=caller_address(request)),
    )
    return _answer(execution, status)


@router.post(
    "/{ref:path}/rollback",
    response_model=ExecutionOut,
    operation_id="rollbackService",
    status_code=202,
    responses={
        **_STARTED,
        200: {
            "model": ExecutionOut,
            "description": "nothing to do (a recorded noop), or limits rolled back (done)",
        },
    },
)
async def rollback_service(
    ref: str, body: RollbackRequest, request: Request, runtime: RuntimeDep
) -> Response:
    """Roll the service back to ``revision`` (default: the newest that succeeded with
    another image than the one it runs) through the same path as an upgrade; refused
    (409) while a rollout runs on it."""
    execution, status = await rollback_by_hand(
        runtime.executor,
        ref,
        body.revision,
        body.strategy,
        Audit(driver="api", caller=caller_address(request)),
    )
    return _answer(execution, status)


def _answer(execution: Execution, status: int) -> Response:
    return Response(
        json.dumps(execution_dict(execution)), status_code=status, media_type="application/json"
    )
