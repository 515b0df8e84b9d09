"""/v1/receivers: create, read, change, rotate and delete receivers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from scalehook.answers import AUTH, BODY, ENGINE, errors
from scalehook.api.deps import RuntimeDep, require_admin
from scalehook.api.schemas import ReceiverCreate, ReceiverOut, ReceiverUpdate, ReceiverWithUrl
from scalehook.domain.receivers import Receiver, hash_key, new_key, parse_id
from scalehook.drivers import driver_for
from scalehook.runtime import Runtime

router = APIRouter(
    prefix="/v1/receivers",
    tags=["receivers"],
    dependencies=[Depends(require_admin)],
    responses=errors(*AUTH),
)
TAKEN = {
    409: "the name is taken (conflict), or the engine as configured cannot serve the "
    "service (backend_unsupported)"
}


def trigger_url(runtime: Runtime, request: Request, key: str) -> str:
    base = runtime.settings.server.public_url or str(request.base_url)
    return f"{base.rstrip('/')}/v1/hooks/{key}"


async def find(runtime: Runtime, ident: str) -> Receiver:
    """A receiver by id (digits) or by name."""
    receiver_id = parse_id(ident)
    if receiver_id is not None:
        return await runtime.store.receivers.get(receiver_id)
    return await runtime.store.receivers.by_name(ident)


def with_url(receiver: Receiver, url: str) -> ReceiverWithUrl:
    return ReceiverWithUrl(**ReceiverOut.of(receiver).model_dump(), url=url)


@router.post(
    "",
    operation_id="createReceiver",
    status_code=201,
    response_model=ReceiverWithUrl,
    responses=errors(*BODY, *ENGINE, said=TAKEN),
)
async def create_receiver(
    body: ReceiverCreate, request: Request, runtime: RuntimeDep
) -> ReceiverWithUrl:
    """Create a receiver; the answer holds its trigger URL, shown in full only here.
    ``config`` is the driver's: its schema is the one of the ``driver`` given."""
    driver = driver_for(body.driver)
    config = body.config
    await driver.validate(config, runtime.executor)
    key = new_key()
    receiver = await runtime.store.receivers.add(
        name=body.name,
        driver=driver.name,
        config=config.model_dump(mode="json"),
        key_hash=hash_key(key),
        enabled=body.enabled,
        dry_run=body.dry_run,
        paused=body.paused,
    )
    return with_url(receiver, trigger_url(runtime, request, key))


@router.get("", operation_id="listReceivers", response_model=list[ReceiverOut])
async def list_receivers(runtime: RuntimeDep) -> list[ReceiverOut]:
    return [ReceiverOut.of(r) for r in await runtime.store.receivers.all()]


@router.get(
    "/{ident}", operation_id="getReceiver", response_model=ReceiverOut, responses=errors(404)
)
async def get_receiver(ident: str, runtime: RuntimeDep) -> ReceiverOut:
    return ReceiverOut.of(await find(runtime, ident))


@router.patch(
    "/{ident}",
    operation_id="updateReceiver",
    response_model=ReceiverOut,
    responses=errors(*BODY, *ENGINE, 404, said=TAKEN),
)
async def update_receiver(ident: str, body: ReceiverUpdate, runtime: RuntimeDep) -> ReceiverOut:
    """Rename, enable or disable, pause or resume, switch dry-run, or change config keys
    (the rest keep their values)."""
    receiver = await find(runtime, ident)
    changes: dict[str, Any] = {}
    if body.name is not None and body.name != receiver.name:
        changes["name"] = body.name
    for flag in ("enabled", "dry_run", "paused"):
        value = getattr(body, flag)
        if value is not None:
            changes[flag] = value
    if body.config is not None:
        driver = driver_for(receiver.driver)
        config = driver.parse_config({**receiver.config, **body.config})
        await driver.validate(config, runtime.executor)
        changes["config"] = config.model_dump(mode="json")
    if not changes:
        return ReceiverOut.of(receiver)
    return ReceiverOut.of(await runtime.store.receivers.update(receiver.id, **changes))


@router.post(
    "/{ident}/rotate",
    operation_id="rotateReceiverKey",
    response_model=ReceiverWithUrl,
    responses=errors(404),
)
async def rotate_key(ident: str, request: Request, runtime: RuntimeDep) -> ReceiverWithUrl:
    """Give the receiver a new key; the old URL stops working at once."""
    receiver = await find(runtime, ident)
    key = new_key()
    receiver = await runtime.store.receivers.update(receiver.id, key_hash=hash_key(key))
    return with_url(receiver, trigger_url(runtime, request, key))


@router.delete("/{ident}", operation_id="deleteReceiver", status_code=204, responses=errors(404))
async def delete_receiver(ident: str, runtime: RuntimeDep) -> Response:
    receiver = await find(runtime, ident)
    await runtime.store.receivers.delete(receiver.id)
    return Response(status_code=204)
