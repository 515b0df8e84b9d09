"""/v1/notifications: who is told about which executions; and their deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from scalehook.answers import AUTH, BODY, errors
from scalehook.api.deps import RuntimeDep, require_admin
from scalehook.domain.notifications import (
    NAME,
    Delivery,
    DeliveryId,
    Notification,
    NotificationId,
    merge_spec,
    parse_spec,
    public_view,
)
from scalehook.runtime import Runtime

router = APIRouter(
    prefix="/v1/notifications",
    tags=["notifications"],
    dependencies=[Depends(require_admin)],
    responses=errors(*AUTH),
)

MAX_ID = 2**63 - 1
NOT_FOUND = {404: "no notification has this id or name (not_found)"}
TAKEN = {409: "the name is taken (conflict)"}


class SmtpIn(BaseModel):
    """An email notification's SMTP server (checked, with the field named, by type)."""

    model_config = ConfigDict(extra="allow")

    host: str | None = Field(default=None, description="the SMTP server (required)")
    port: int | None = Field(default=None, description="default 587")
    starttls: bool | None = Field(default=None, description="default true; needed to log in")
    username: str | None = None
    password: str | None = Field(default=None, description="never shown")
    password_file: str | None = Field(default=None, description="read at each delivery")
    from_: str | None = Field(default=None, alias="from", description="the From address")
    to: list[str] | str | None = Field(default=None, description="one address or several")


class OnIn(BaseModel):
    """Send only the executions that match every key given (one of its values)."""

    model_config = ConfigDict(extra="allow")

    result: list[str] | str | None = Field(default=None, description="e.g. failed, rolled_back")
    driver: list[str] | str | None = Field(default=None, description="e.g. scaleService, api")
    service: list[str] | str | None = Field(
        default=None, description="the target: web (any backend) or local/web"
    )
    receiver: list[str] | str | None = Field(default=None, description="receiver name or id")


class _TypeFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: OnIn | None = Field(default=None, description="the filter; {} or none: every execution")
    url: str | None = Field(
        default=None,
        description="webhook: where to POST; slack: the incoming-webhook URL (never shown)",
    )
    secret: str | None = Field(default=None, description="webhook: signs each body; never shown")
    smtp: SmtpIn | None = Field(default=None, description="email: the SMTP server and addresses")


NotificationType = Literal["webhook", "slack", "email"]


class NotificationCreate(_TypeFields):
    name: str = Field(min_length=1, max_length=100, pattern=NAME, description="unique")
    type: NotificationType
    enabled: bool = True


class NotificationUpdate(_TypeFields):
    """Fields to change: ``on`` is replaced whole, ``smtp`` key by key."""

    name: str | None = Field(default=None, min_length=1, max_length=100, pattern=NAME)
    type: NotificationType | None = None
    enabled: bool | None = None


class NotificationOut(BaseModel):
    id: int
    name: str
    type: str
    enabled: bool
    on: dict[str, list[str]] = Field(description="the filter; {} matches every execution")
    url: str | None = Field(default=None, description="webhook only")
    has_secret: bool | None = Field(default=None, description="webhook: a secret signs bodies")
    has_url: bool | None = Field(default=None, description="slack: the URL is set (never shown)")
    smtp: dict[str, Any] | None = Field(default=None, description="email, without the password")
    has_password: bool | None = Field(default=None, description="email: a password is set")
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, notification: Notification) -> NotificationOut:
        return cls(
            id=notification.id,
            name=notification.name,
            type=notification.type,
            enabled=notification.enabled,
            on=notification.on,
            created_at=notification.created_at,
            updated_at=notification.updated_at,
            **public_view(notification),
        )


class DeliveryOut(BaseModel):
    id: int
    notification: str
    execution_id: int
    status: str = Field(description="pending, delivered or failed")
    attempts: int = Field(description="tries made")
    last_error: str | None = Field(description="why the last failed try failed")
    next_try_at: datetime | None = Field(description="when a pending delivery is tried next")
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    execution: dict[str, Any] = Field(description="what is sent: the execution as recorded")

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryOut:
        return cls(
            id=delivery.id,
            notification=delivery.notification_name,
            execution_id=delivery.execution_id,
            status=delivery.status,
            attempts=delivery.attempts,
            last_error=delivery.last_error,
            next_try_at=delivery.next_attempt_at if delivery.status == "pending" else None,
            created_at=delivery.created_at,
            updated_at=delivery.updated_at,
            delivered_at=delivery.delivered_at,
            execution=delivery.payload,
        )


class RetryOut(BaseModel):
    retried: int = Field(description="failed deliveries sent again, from their first try")


async def find(runtime: Runtime, ident: str) -> Notification:
    """A notification by id (digits) or by name."""
    if ident.isascii() and ident.isdigit() and len(ident) <= 18:
        return await runtime.store.notifications.get(NotificationId(int(ident)))
    return await runtime.store.notifications.by_name(ident)


def _body(model: BaseModel) -> dict[str, Any]:
    """The fields the caller sent, as given (``from`` by its name)."""
    return model.model_dump(exclude_unset=True, by_alias=True)


@router.post(
    "",
    status_code=201,
    response_model=NotificationOut,
    operation_id="createNotification",
    responses=errors(*BODY, 409, said=TAKEN),
)
async def create_notification(body: NotificationCreate, runtime: RuntimeDep) -> NotificationOut:
    """Create a notification: the executions it matches are sent to it from now on."""
    given = _body(body)
    given.setdefault("type", body.type)
    spec = parse_spec(given)
    return NotificationOut.of(await runtime.store.notifications.add(spec))


@router.get("", response_model=list[NotificationOut], operation_id="listNotifications")
async def list_notifications(runtime: RuntimeDep) -> list[NotificationOut]:
    return [NotificationOut.of(n) for n in await runtime.store.notifications.all()]


@router.get(
    "/{ident}",
    response_model=NotificationOut,
    operation_id="getNotification",
    responses=errors(404, said=NOT_FOUND),
)
async def get_notification(ident: str, runtime: RuntimeDep) -> NotificationOut:
    return NotificationOut.of(await find(runtime, ident))


@router.patch(
    "/{ident}",
    response_model=NotificationOut,
    operation_id="updateNotification",
    responses=errors(*BODY, 404, 409, said=NOT_FOUND | TAKEN),
)
async def update_notification(
    ident: str, body: NotificationUpdate, runtime: RuntimeDep
) -> NotificationOut:
    """Change fields; the others keep their values (``on`` is replaced whole, ``smtp``
    key by key, so a password need not be sent again)."""
    current = await find(runtime, ident)
    changes = _body(body)
    if not changes:
        return NotificationOut.of(current)
    spec = merge_spec(current, changes)
    return NotificationOut.of(await runtime.store.notifications.update(current.id, spec))


@router.delete(
    "/{ident}",
    status_code=204,
    operation_id="deleteNotification",
    responses=errors(404, said=NOT_FOUND),
)
async def delete_notification(ident: str, runtime: RuntimeDep) -> Response:
    """Delete a notification and its deliveries, pending ones included."""
    notification = await find(runtime, ident)
    await runtime.store.notifications.delete(notification.id)
    return Response(status_code=204)


@router.get(
    "/{ident}/deliveries",
    response_model=list[DeliveryOut],
    operation_id="listNotificationDeliveries",
    responses=errors(404, 422, said=NOT_FOUND),
)
async def list_deliveries(
    ident: str,
    runtime: RuntimeDep,
    status: Annotated[
        Literal["pending", "delivered", "failed"] | None,
        Query(description="pending, delivered or failed"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    before: Annotated[int | None, Query(ge=0, le=MAX_ID, description="only ids below this")] = None,
) -> list[DeliveryOut]:
    """A notification's deliveries, newest first: tries made, the last error, the next try."""
    notification = await find(runtime, ident)
    rows = await runtime.store.outbox.page(
        notification.id,
        status=status,
        limit=limit,
        before=None if before is None else DeliveryId(before),
    )
    return [DeliveryOut.of(d) for d in rows]


@router.post(
    "/{ident}/deliveries/retry",
    response_model=RetryOut,
    operation_id="retryNotificationDeliveries",
    responses=errors(404, said=NOT_FOUND),
)
async def retry_deliveries(ident: str, runtime: RuntimeDep) -> RetryOut:
    """Send the failed deliveries again (e.g. after fixing the URL or the password)."""
    notification = await find(runtime, ident)
    retried = await runtime.store.outbox.retry_failed(notification.id, now=runtime.clock.now())
    if retried:
        runtime.notifications.wake()
    return RetryOut(retried=retried)
