"""GET /v1/executions/stream: the audit trail as it grows, as server-sent events.

The web UI's activity page listens here instead of reloading. Each event is one
execution in the JSON of ``GET /v1/executions/{id}``: every new one, and a running
rollout's again each time its record changes (its batches), until it is done. The
stream reads the store (every ``POLL`` seconds), so it sees what any instance on a
shared database records. Its event id is the highest execution id sent, so a browser's
``EventSource`` that reconnects (sending ``Last-Event-ID``) misses nothing new.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from scalehook.answers import errors
from scalehook.api.deps import RuntimeDep, require_admin
from scalehook.api.executions import MAX_ID, ResultQuery, filters
from scalehook.api.schemas import ExecutionOut, execution_dict
from scalehook.domain.executions import Execution, ExecutionId
from scalehook.errors import StoreUnavailable
from scalehook.runtime import Runtime

POLL = 0.5
"""Seconds between two reads of the store."""
HEARTBEAT = 15.0
"""Seconds of silence after which a comment line is sent (proxies close idle answers)."""
_BATCH = 200
_RUNNING_WATCHED = 100

router = APIRouter(
    prefix="/v1/executions",
    tags=["executions"],
    dependencies=[Depends(require_admin)],
    responses=errors(401, 403),
)


@router.get(
    "/stream",
    operation_id="streamExecutions",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "server-sent events: `event: execution`, `id:` the highest "
            "execution id sent, `data:` the execution's JSON",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def stream_executions(
    request: Request,
    runtime: RuntimeDep,
    receiver: Annotated[str | None, Query(description="receiver id or name")] = None,
    service: Annotated[str | None, Query(description="service name or backend/name")] = None,
    result: ResultQuery = None,
    after: Annotated[
        int | None,
        Query(ge=0, le=MAX_ID, description="send executions above this id; default: from now"),
    ] = None,
    last_event_id: Annotated[
        str | None, Header(description="sent by a reconnecting EventSource; wins over after")
    ] = None,
) -> StreamingResponse:
    """New executions as they are recorded, and running rollouts as they change (the
    filters of ``GET /v1/executions``). The running ones matching are sent first."""
    where = await filters(runtime, receiver, service, result)
    resumed = _event_id(last_event_id)
    if resumed is not None:
        after = resumed
    if after is None:
        newest = await runtime.store.executions.page(limit=1)
        after = newest[0].id if newest else 0
    return StreamingResponse(
        _events(request, runtime, where, ExecutionId(after)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _events(
    request: Request, runtime: Runtime, where: dict[str, Any], cursor: ExecutionId
) -> AsyncIterator[str]:
    watched: dict[ExecutionId, datetime | None] = {}
    yield "retry: 2000\n\n"
    running = await runtime.store.executions.page(
        **{**where, "status": "running"}, limit=_RUNNING_WATCHED
    )
    for execution in reversed(running):
        watched[execution.id] = execution.updated_at
        yield _event(execution, cursor)
    cursor = max([cursor, *(e.id for e in running)])
    quiet = 0.0
    while not runtime.stopping.is_set() and not await request.is_disconnected():
        sent = False
        try:
            fresh = await runtime.store.executions.page(**where, after=cursor, limit=_BATCH)
        except StoreUnavailable:
            fresh = None  # the database is away: the stream waits for it, open
        for execution in reversed(fresh or []):
            cursor = max(cursor, execution.id)
            if execution.status == "running":
                watched[execution.id] = execution.updated_at
            yield _event(execution, cursor)
            sent = True
        for ident, seen in list(watched.items()) if fresh is not None else []:
            if any(e.id == ident for e in fresh or []):
                continue
            try:
                execution = await runtime.store.executions.get(ident)
            except StoreUnavailable:
                break
            if execution.updated_at != seen:
                watched[ident] = execution.updated_at
                yield _event(execution, cursor)
                sent = True
            if execution.status != "running":
                del watched[ident]
        quiet = 0.0 if sent else quiet + POLL
        if quiet >= HEARTBEAT:
            quiet = 0.0
            yield ": still here\n\n"
        await runtime.clock.sleep(POLL)


def _event(execution: Execution, cursor: int) -> str:
    # Through the model, so that the JSON is byte for byte that of GET /v1/executions/{id}.
    data = ExecutionOut.model_validate(execution_dict(execution)).model_dump_json()
    return f"event: execution\nid: {cursor}\ndata: {data}\n\n"


def _event_id(text: str | None) -> int | None:
    if text and text.isascii() and text.isdigit() and len(text) <= 18:
        return int(text)
    return None
