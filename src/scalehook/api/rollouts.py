"""/v1/rollouts: rollouts running and recent, and their control by hand (pause, resume,
cancel, roll back). What each command does on each engine: ``rollouts.py``,
``backends/rolling.py`` (local, Docker) and ``backends/swarm/watch.py`` (Swarm)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from scalehook.answers import AUTH, errors
from scalehook.api.deps import RuntimeDep, caller_address, require_admin, service_targets
from scalehook.api.schemas import RolloutOut
from scalehook.domain.upgrades import RolloutId
from scalehook.rollouts import Asked
from scalehook.runtime import Runtime

MAX_ID = 2**63 - 1

router = APIRouter(
    prefix="/v1/rollouts",
    tags=["rollouts"],
    dependencies=[Depends(require_admin)],
    responses=errors(*AUTH),
)

IdPath = Annotated[int, Path(ge=0, le=MAX_ID, description="the rollout's id")]
_COMMAND = errors(
    404,
    409,
    422,
    said={
        404: "no rollout has this id (rollout_not_found)",
        409: "not now, and why: it is done, superseded, being cancelled or rolled back, "
        "or the engine cannot obey now (conflict)",
    },
)


@router.get("", response_model=list[RolloutOut], operation_id="listRollouts", responses=errors(422))
async def list_rollouts(
    runtime: RuntimeDep,
    service: Annotated[str | None, Query(description="service name or backend/name")] = None,
    status: Annotated[
        Literal["running", "done"] | None, Query(description="running, or done")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> list[RolloutOut]:
    """Rollouts running and recent, newest first: service, from, to, state, batches done
    of the phase under way, replicas ready now, when and by whom."""
    targets = await service_targets(runtime, service) if service else None
    running = None if status is None else status == "running"
    records = await runtime.store.rollouts.page(targets=targets, running=running, limit=limit)
    return [RolloutOut.of(v) for v in await runtime.executor.rollouts.views(records)]


@router.get(
    "/{rollout_id}",
    response_model=RolloutOut,
    operation_id="getRollout",
    responses=errors(404, 422, said={404: "no rollout has this id (rollout_not_found)"}),
)
async def get_rollout(rollout_id: IdPath, runtime: RuntimeDep) -> RolloutOut:
    return await _view(runtime, rollout_id)


async def _command(
    runtime: Runtime, rollout_id: int, asked: Asked, request: Request, status: int
) -> Response:
    await runtime.executor.rollouts.ask(
        RolloutId(rollout_id), asked, caller=caller_address(request)
    )
    shown = await _view(runtime, rollout_id)
    return Response(shown.model_dump_json(by_alias=True), status, media_type="application/json")


@router.post(
    "/{rollout_id}/pause",
    response_model=RolloutOut,
    operation_id="pauseRollout",
    responses=_COMMAND,
)
async def pause_rollout(rollout_id: IdPath, request: Request, runtime: RuntimeDep) -> Response:
    """Hold the rollout before its next batch (the batch under way finishes first; on
    Swarm, its workers finish their task). Kept across a restart of scalehook."""
    return await _command(runtime, rollout_id, "pause", request, 200)


@router.post(
    "/{rollout_id}/resume",
    response_model=RolloutOut,
    operation_id="resumeRollout",
    responses=_COMMAND,
)
async def resume_rollout(rollout_id: IdPath, request: Request, runtime: RuntimeDep) -> Response:
    return await _command(runtime, rollout_id, "resume", request, 200)


@router.post(
    "/{rollout_id}/cancel",
    response_model=RolloutOut,
    operation_id="cancelRollout",
    status_code=202,
    responses=_COMMAND,
)
async def cancel_rollout(rollout_id: IdPath, request: Request, runtime: RuntimeDep) -> Response:
    """Stop the rollout now, each replica left on one version; it ends ``cancelled``. On
    Swarm, which cannot stop an update where it is, every task goes back to the previous
    image."""
    return await _command(runtime, rollout_id, "cancel", request, 202)


@router.post(
    "/{rollout_id}/rollback",
    response_model=RolloutOut,
    operation_id="rollbackRollout",
    status_code=202,
    responses=_COMMAND,
)
async def rollback_rollout(rollout_id: IdPath, request: Request, runtime: RuntimeDep) -> Response:
    """Turn the rollout around now: back to the previous image, batch by batch, health
    gated (on Swarm, Swarm's rollback); it ends ``rolled_back``."""
    return await _command(runtime, rollout_id, "rollback", request, 202)


async def _view(runtime: Runtime, rollout_id: int) -> RolloutOut:
    record = await runtime.store.rollouts.get(RolloutId(rollout_id))
    [shown] = await runtime.executor.rollouts.views([record])
    return RolloutOut.of(shown)
