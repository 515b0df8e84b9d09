"""POST /v1/hooks/{key}: the trigger. No auth header; the key in the URL is the secret.

An unknown, rotated, deleted or disabled key all get the same 404, so a caller learns
nothing about which keys ever existed.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response

from scalehook.api.deps import RuntimeDep, caller_address
from scalehook.api.schemas import ErrorOut, ExecutionOut, execution_dict
from scalehook.drivers import HookCall, driver_for
from scalehook.errors import RateLimited, ReceiverNotFound
from scalehook.receivers import hash_key

router = APIRouter(tags=["trigger"])

_MAX_KEY = 200


@router.post(
    "/v1/hooks/{key}",
    response_model=ExecutionOut,
    responses={
        202: {"model": ExecutionOut, "description": "accepted; the action runs in the background"},
        400: {"model": ErrorOut},
        404: {"model": ErrorOut, "description": "no enabled receiver has this key"},
        413: {"model": ErrorOut},
        429: {"model": ErrorOut},
        503: {"model": ErrorOut, "description": "the engine is unavailable; retry later"},
    },
)
async def trigger(key: str, request: Request, runtime: RuntimeDep) -> Response:
    """Run the receiver's action. The body (up to the limit) is read by drivers that use it."""
    receiver = None
    if len(key) <= _MAX_KEY:
        receiver = await runtime.store.receiver_by_key(hash_key(key))
    if receiver is None or not receiver.enabled:
        runtime.metrics.rejections.labels("unknown_key").inc()
        raise ReceiverNotFound("no receiver answers at this URL")
    limiter = runtime.limiter_for(receiver.name)
    wait = limiter.take(receiver.id)
    if wait is not None:
        runtime.metrics.triggers.labels(receiver.name, receiver.driver, "rate_limited").inc()
        raise RateLimited(
            f"receiver {receiver.name!r} is limited to {limiter.rate:g} triggers/s",
            retry_after=wait,
        )
    body = await request.body()
    driver = driver_for(receiver.driver)
    config = driver.parse_config(receiver.config)
    call = HookCall(
        body=body,
        headers={k.lower(): v for k, v in request.headers.items()},
        caller=caller_address(request),
    )
    outcome = await driver.trigger(receiver, config, call, runtime.executor)
    return Response(
        json.dumps(execution_dict(outcome.execution)),
        status_code=outcome.status,
        media_type="application/json",
    )
