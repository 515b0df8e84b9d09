"""Health checks: ``/v1/services/{name}/healthcheck`` (set whole, read, delete) and
``/v1/healthchecks`` (every check in force, the file's included)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from scalehook.answers import AUTH, BODY, ENGINE, errors
from scalehook.api.deps import RuntimeDep, require_admin
from scalehook.api.schemas import HealthCheckOut
from scalehook.domain.healthchecks import HealthCheckSpec

NO_CHECK = {404: "no such service, or it has no health check (not_found); `field`: service"}
DECLARED = {
    409: "the check is declared in scalehook.yaml (conflict: remove it there), or the "
    "engine as configured cannot serve (backend_unsupported)",
    **NO_CHECK,
}

router = APIRouter(
    tags=["healthchecks"],
    dependencies=[Depends(require_admin)],
    responses=errors(*AUTH),
)


@router.get(
    "/v1/healthchecks", response_model=list[HealthCheckOut], operation_id="listHealthChecks"
)
async def list_health_checks(runtime: RuntimeDep) -> list[HealthCheckOut]:
    """Every check in force: set through the API, or declared in scalehook.yaml."""
    now = runtime.clock.monotonic()
    return [HealthCheckOut.of(view, now=now) for view in await runtime.health.list()]


@router.put(
    "/v1/services/{ref:path}/healthcheck",
    response_model=HealthCheckOut,
    operation_id="putHealthCheck",
    responses=errors(
        *BODY,
        *ENGINE,
        404,
        said={
            404: "no such service (not_found); `field`: service",
            422: "a field that will never work as sent, alone or for this service (a "
            "quorum above its desired count, docker on local processes); `field` names it",
        },
    ),
)
async def put_health_check(ref: str, body: HealthCheckSpec, runtime: RuntimeDep) -> HealthCheckOut:
    """Set the service's health check (the whole check: fields left out take their
    defaults). It replaces one declared in scalehook.yaml while it exists."""
    view = await runtime.health.put(ref, body)
    return HealthCheckOut.of(view, now=runtime.clock.monotonic())


@router.get(
    "/v1/services/{ref:path}/healthcheck",
    response_model=HealthCheckOut,
    operation_id="getHealthCheck",
    responses=errors(404, *ENGINE, said=NO_CHECK),
)
async def get_health_check(ref: str, runtime: RuntimeDep) -> HealthCheckOut:
    """The service's check, where it comes from, and each replica's health."""
    view = await runtime.health.get(ref)
    return HealthCheckOut.of(view, now=runtime.clock.monotonic())


@router.delete(
    "/v1/services/{ref:path}/healthcheck",
    status_code=204,
    response_class=Response,
    operation_id="deleteHealthCheck",
    responses=errors(404, *ENGINE, said=DECLARED),
)
async def delete_health_check(ref: str, runtime: RuntimeDep) -> Response:
    """Delete the check set through the API (one declared in scalehook.yaml then applies
    again; that one cannot be deleted here: 409)."""
    await runtime.health.delete(ref)
    return Response(status_code=204)
