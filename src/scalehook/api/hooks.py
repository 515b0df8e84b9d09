"""POST /v1/hooks/{key}: the trigger. No auth header; the key in the URL is the secret.

An unknown, rotated, deleted or disabled key all get the same 404, so a caller learns
nothing about which keys ever existed.
"""

from __future__ import annotations

import dataclasses
import json

from fastapi import APIRouter, Request, Response

from scalehook.answers import ENGINE, errors
from scalehook.api.deps import RuntimeDep, caller_address
from scalehook.api.schemas import ExecutionOut, execution_dict
from scalehook.domain.executions import Execution
from scalehook.domain.receivers import hash_key
from scalehook.domain.signatures import verify
from scalehook.drivers import HookCall, driver_for
from scalehook.errors import InvalidPayload, RateLimited, ReceiverNotFound, RetryLater, Unauthorized
from scalehook.sources import read_signals

router = APIRouter(tags=["trigger"])

_MAX_KEY = 200
_RETRIES_ONLY_5XX = ("Alertmanager/",)


@router.post(
    "/v1/hooks/{key}",
    operation_id="triggerHook",
    response_model=ExecutionOut,
    responses={
        202: {"model": ExecutionOut, "description": "accepted; the action runs in the background"},
        **errors(
            400,
            401,
            404,
            408,
            413,
            422,
            429,
            *ENGINE,
            said={
                400: "a body from a known sender that cannot be read (invalid_payload), or "
                "not JSON where JSON is due (invalid_json); execution_id when recorded",
                401: "the receiver has a secret the call did not prove (unauthorized)",
                404: "no enabled receiver has this key (not_found)",
                503: "the engine is unavailable, or an Alertmanager is rate limited "
                "(rate_limited, with Retry-After); retry later",
            },
        ),
    },
)
async def trigger(key: str, request: Request, runtime: RuntimeDep) -> Response:
    """Run the receiver's action. A body from a known sender (Alertmanager) is read as
    its signals; any other body (up to the limit) is a plain trigger."""
    receiver = None
    if len(key) <= _MAX_KEY:
        receiver = await runtime.store.receivers.by_key(hash_key(key))
    if receiver is None or not receiver.enabled:
        runtime.metrics.rejections.labels("unknown_key").inc()
        raise ReceiverNotFound("no receiver answers at this URL")
    headers = {k.lower(): v for k, v in request.headers.items()}
    limiter = runtime.limiter_for(receiver.name)
    wait = limiter.take(receiver.id)
    if wait is not None:
        runtime.metrics.triggers.labels(receiver.name, receiver.driver, "rate_limited").inc()
        message = f"receiver {receiver.name!r} is limited to {limiter.rate:g} triggers/s"
        if headers.get("user-agent", "").startswith(_RETRIES_ONLY_5XX):
            # Alertmanager drops a notification answered 4xx: ask it to come back.
            raise RetryLater(message, retry_after=wait)
        raise RateLimited(message, retry_after=wait)
    body = await request.body()
    driver = driver_for(receiver.driver)
    config = driver.parse_config(receiver.config)
    call = HookCall(body=body, headers=headers, caller=caller_address(request))
    try:
        secret = driver.secret(config)
        if secret is not None:
            verify(secret, body, headers)
        reads = driver.reading(config)
        if receiver.paused:  # decides nothing: a body is read only as far as it always was
            source, signals = read_signals(body, headers, among=driver.reads)
        else:
            source, signals = read_signals(
                body, headers, among=reads.among, force=reads.force, required=reads.required,
                what=reads.what,
            )  # fmt: skip
    except (InvalidPayload, Unauthorized) as exc:
        # A call that can never act as sent is answered 400 or 401; recorded as rejected
        # when the receiver's driver acts on bodies only (an upgrade) or a secret failed.
        # (An Alertmanager body that cannot be read is refused as it always was, without
        # a record: Alertmanager drops a 4xx and will not send it again.)
        if isinstance(exc, InvalidPayload) and not driver.reading(config).required:
            raise
        execution = await runtime.executor.record(
            call.audit(receiver), target=None, result="rejected", message=exc.message
        )
        exc.execution_id = execution.id
        raise
    call = dataclasses.replace(call, source=source, signals=tuple(signals))
    if receiver.paused:
        execution = await runtime.executor.skip(
            service=driver.target(config),
            audit=call.audit(receiver),
            result="paused",
            message="paused: nothing decided, nothing changed",
            details={"source": source} if source else {},
        )
        return _answer(execution, 200)
    outcome = await driver.trigger(receiver, config, call, runtime.executor)
    return _answer(outcome.execution, outcome.status)


def _answer(execution: Execution, status: int) -> Response:
    return Response(
        json.dumps(execution_dict(execution)), status_code=status, media_type="application/json"
    )
