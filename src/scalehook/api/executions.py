"""/v1/executions: the audit trail, newest first; one execution by id (a rollout's
record changes while it runs)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query

from scalehook.answers import AUTH, errors
from scalehook.api.deps import RuntimeDep, require_admin, service_targets
from scalehook.api.schemas import ExecutionOut, execution_dict
from scalehook.domain.executions import ExecutionId
from scalehook.domain.receivers import parse_id
from scalehook.runtime import Runtime

MAX_ID = 2**63 - 1

router = APIRouter(
    prefix="/v1/executions",
    tags=["executions"],
    dependencies=[Depends(require_admin)],
    responses=errors(*AUTH),
)


ResultQuery = Annotated[
    str | None, Query(max_length=20, description="only this result, e.g. scaled, failed")
]
StatusQuery = Annotated[
    Literal["running", "done"] | None, Query(description="running (a rollout going on) or done")
]


async def filters(
    runtime: Runtime,
    receiver: str | None,
    service: str | None,
    result: str | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """The store's filters for the query parameters of the list (and of its stream)."""
    receiver_id = parse_id(receiver) if receiver else None
    return {
        "receiver_id": receiver_id,
        "receiver_name": receiver if receiver and receiver_id is None else None,
        "targets": await service_targets(runtime, service) if service else None,
        "result": result,
        "status": status,
    }


@router.get(
    "", operation_id="listExecutions", response_model=list[ExecutionOut], responses=errors(422)
)
async def list_executions(
    runtime: RuntimeDep,
    receiver: Annotated[str | None, Query(description="receiver id or name")] = None,
    service: Annotated[str | None, Query(description="service name or backend/name")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    before: Annotated[int | None, Query(ge=0, le=MAX_ID, description="only ids below this")] = None,
    after: Annotated[int | None, Query(ge=0, le=MAX_ID, description="only ids above this")] = None,
    result: ResultQuery = None,
    status: StatusQuery = None,
) -> list[dict[str, object]]:
    rows = await runtime.store.executions.page(
        **(await filters(runtime, receiver, service, result, status)),
        limit=limit,
        before=None if before is None else ExecutionId(before),
        after=None if after is None else ExecutionId(after),
    )
    return [execution_dict(e) for e in rows]


@router.get(
    "/{execution_id}",
    operation_id="getExecution",
    response_model=ExecutionOut,
    responses=errors(404, 422),
)
async def get_execution(
    execution_id: Annotated[int, Path(ge=0, le=MAX_ID)], runtime: RuntimeDep
) -> dict[str, object]:
    return execution_dict(await runtime.store.executions.get(ExecutionId(execution_id)))
