"""Notifications: who is told about which executions, and how a notification is written.

A notification is a named resource: a ``type`` (``webhook``, ``slack``, ``email``), the
fields of that type, and ``on``, a filter of executions by result, driver, service
and receiver (empty: every execution). Everything here is pure: the API parses specs
with ``parse_spec``/``merge_spec``, the recorder's hook asks ``matches`` for every
finished execution, inside the transaction that records it, and the delivery loop
asks ``retry_delay`` when a try fails.

Secrets (a webhook's ``secret``, a Slack incoming-webhook ``url``, an SMTP
``password``) are kept as given, for sending needs them, but ``public_view`` never
shows them and ``secrets_of`` lists them for ``redact`` to keep out of error texts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, NewType, get_args
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from scalehook.domain.executions import Execution, Result
from scalehook.errors import InvalidRequest

NotificationId = NewType("NotificationId", int)
NotificationType = Literal["webhook", "slack", "email"]
TYPES: tuple[str, ...] = get_args(NotificationType)
NAME = r"^[A-Za-z][A-Za-z0-9_.-]*$"

RUNNING_RESULTS = frozenset({"upgrading", "rolling_back"})
"""Results of a rollout still running: never notified (it notifies when it ends)."""
FILTER_RESULTS: tuple[str, ...] = tuple(r for r in get_args(Result) if r not in RUNNING_RESULTS)
FAILURES = frozenset({"failed", "rejected", "rolled_back"})
"""Results a message marks as a failure."""

FILTER_KEYS = ("result", "driver", "service", "receiver")
COMMON_FIELDS = ("name", "type", "on", "enabled")
TYPE_FIELDS: dict[str, tuple[str, ...]] = {
    "webhook": ("url", "secret"),
    "slack": ("url",),
    "email": ("smtp",),
}
"""The fields each type takes besides the common ones; any other is refused."""
SECRET_FIELDS: dict[str, tuple[str, ...]] = {
    "webhook": ("secret",),
    "slack": ("url",),
    "email": ("smtp.password",),
}
"""Fields (dotted: within ``smtp``) never shown by the API, per type."""


# the filter -----------------------------------------------------------------------


def _listed(value: Any) -> Any:
    """``"failed"`` means ``["failed"]``; ``"failed,rolled_back"`` both."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _results(values: list[str]) -> list[str]:
    for value in values:
        if value in RUNNING_RESULTS:
            raise ValueError(
                f"{value!r} is a running rollout's state; a rollout notifies when it ends, "
                "with its final result (upgraded, rolled_back, paused, failed, superseded)"
            )
        if value not in FILTER_RESULTS:
            raise ValueError(f"{value!r} is not a result (use {', '.join(FILTER_RESULTS)})")
    return values


Names = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=200)]], BeforeValidator(_listed)
]


class OnSpec(BaseModel):
    """Which executions a notification is sent for: each key given must match (one of
    its values); an empty filter matches every finished execution."""

    model_config = ConfigDict(extra="forbid")

    result: Annotated[Names, AfterValidator(_results)] = Field(
        default_factory=list, description="e.g. failed, rolled_back"
    )
    driver: Names = Field(default_factory=list, description="e.g. scaleService, api")
    service: Names = Field(
        default_factory=list,
        description="the execution's target: web matches web on any backend, local/web one",
    )
    receiver: Names = Field(default_factory=list, description="receiver names or ids")


@dataclass(frozen=True, slots=True)
class Filter:
    result: frozenset[str] = frozenset()
    driver: frozenset[str] = frozenset()
    service: tuple[str, ...] = ()
    receiver: frozenset[str] = frozenset()

    @classmethod
    def of(cls, on: Mapping[str, Any]) -> Filter:
        return cls(
            result=frozenset(on.get("result") or ()),
            driver=frozenset(on.get("driver") or ()),
            service=tuple(on.get("service") or ()),
            receiver=frozenset(on.get("receiver") or ()),
        )


def same_service(wanted: str, target: str) -> bool:
    """``web`` is ``local/web`` (on any backend); ``local/web`` only that one."""
    if wanted == target:
        return True
    if "/" in wanted and "/" in target:
        return False
    return wanted.rsplit("/", 1)[-1] == target.rsplit("/", 1)[-1]


def matches(rule: Filter, execution: Execution) -> bool:
    """Whether a finished execution is sent to a notification with this filter."""
    if execution.status != "done":
        return False
    if rule.result and execution.result not in rule.result:
        return False
    if rule.driver and execution.driver not in rule.driver:
        return False
    if rule.service and (
        execution.target is None
        or not any(same_service(wanted, execution.target) for wanted in rule.service)
    ):
        return False
    if rule.receiver:
        names = {
            execution.receiver_name,
            None if execution.receiver_id is None else str(execution.receiver_id),
        }
        if not names & rule.receiver:
            return False
    return True


# the type-specific fields -----------------------------------------------------------


def _http_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise ValueError(f"not a URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("must name a host (http(s)://host/...)")
    if any(c.isspace() for c in value):
        raise ValueError("must not hold white space")
    return value


HttpUrl = Annotated[str, Field(min_length=1, max_length=2048), AfterValidator(_http_url)]
_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+$")


def _address(value: str) -> str:
    if not _ADDRESS.match(value):
        raise ValueError(f"{value!r} is not a mail address (name@host)")
    return value


Address = Annotated[str, Field(max_length=320), AfterValidator(_address)]


def _host(value: str) -> str:
    if not value or any(c.isspace() or c in "/@" for c in value):
        raise ValueError("a host name or address (no scheme, no path)")
    return value


class WebhookSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl = Field(description="where the execution is POSTed as JSON")
    secret: str | None = Field(
        default=None,
        min_length=8,
        max_length=256,
        repr=False,
        description="signs each body: X-Scalehook-Signature-256: sha256=<HMAC-SHA256>; never shown",
    )


class SlackSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl = Field(repr=False, description="the Slack incoming-webhook URL; never shown")


class SmtpSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    host: Annotated[str, Field(min_length=1, max_length=253), AfterValidator(_host)]
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = Field(
        default=True, description="STARTTLS before login (the certificate is verified)"
    )
    username: str | None = Field(default=None, min_length=1, max_length=320)
    password: str | None = Field(default=None, min_length=1, max_length=1024, repr=False)
    password_file: str | None = Field(
        default=None, min_length=1, max_length=4096, description="read at each delivery"
    )
    sender: Address = Field(alias="from", description="the From address")
    to: Annotated[list[Address], BeforeValidator(_listed)] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _login(self) -> SmtpSpec:
        if self.password is not None and self.password_file is not None:
            raise _FieldError("password_file", "give password or password_file, not both")
        has_password = self.password is not None or self.password_file is not None
        if self.username is None and has_password:
            raise _FieldError("username", "a password needs a username to log in with")
        if self.username is not None and not has_password:
            raise _FieldError("password", "a username needs a password or password_file")
        if self.username is not None and not self.starttls:
            raise _FieldError(
                "starttls", "login needs STARTTLS: the password would cross the network in clear"
            )
        return self


class EmailSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    smtp: SmtpSpec


SPECS: dict[str, type[BaseModel]] = {"webhook": WebhookSpec, "slack": SlackSpec, "email": EmailSpec}


class _FieldError(ValueError):
    """A check across fields that names the one at fault (within its model)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# specs ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NotificationSpec:
    """A notification as asked for, checked: what the store keeps."""

    name: str
    type: NotificationType
    config: dict[str, Any]  # the type's fields (webhook: url, secret; email: smtp)
    on: dict[str, list[str]]  # only the keys given
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Notification(NotificationSpec):
    id: NotificationId = NotificationId(0)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def filter(self) -> Filter:
        return Filter.of(self.on)


def parse_spec(body: Mapping[str, Any]) -> NotificationSpec:
    """A notification from an API body or a file (every field at the top, as in
    ``{"name", "type", "url", "secret", "on", "enabled"}``); ``InvalidRequest`` naming
    the field otherwise."""
    name = body.get("name")
    if not isinstance(name, str) or not re.match(NAME, name) or len(name) > 100:
        raise InvalidRequest(
            "name: 1 to 100 letters, digits, '_', '.' or '-', starting with a letter",
            field="name",
        )
    kind = body.get("type")
    if kind not in TYPES:
        raise InvalidRequest(f"type: use {', '.join(TYPES)}", field="type")
    allowed = (*COMMON_FIELDS, *TYPE_FIELDS[kind])
    for key in body:
        if key in allowed:
            continue
        others = [t for t, fields in TYPE_FIELDS.items() if key in fields]
        if others:
            message = (
                f"{key}: a field of {_a(' or '.join(others))} notification, not of {_a(kind)} one"
            )
        else:
            message = f"{key}: not a field of a notification (use {', '.join(allowed)})"
        raise InvalidRequest(message, field=key)
    enabled = body.get("enabled", True)
    if not isinstance(enabled, bool):
        raise InvalidRequest("enabled: true or false", field="enabled")
    on = parse_on(body.get("on"))
    fields = {k: body[k] for k in TYPE_FIELDS[kind] if k in body and body[k] is not None}
    if isinstance(fields.get("smtp"), Mapping):  # a key set to null is a key not given
        fields["smtp"] = {k: v for k, v in fields["smtp"].items() if v is not None}
    model = _validate(SPECS[kind], fields)
    config = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return NotificationSpec(name=name, type=kind, config=config, on=on, enabled=enabled)


def _a(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def parse_on(value: Any) -> dict[str, list[str]]:
    """The filter as given (only its keys with values), checked."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidRequest(
            f"on: an object of filters ({', '.join(FILTER_KEYS)}), or empty for every execution",
            field="on",
        )
    for key in value:
        if key not in FILTER_KEYS:
            raise InvalidRequest(
                f"on.{key}: not a filter (use {', '.join(FILTER_KEYS)})", field=f"on.{key}"
            )
    model = _validate(OnSpec, dict(value), prefix="on")
    return {k: v for k, v in model.model_dump().items() if v}


def merge_spec(current: Notification, changes: Mapping[str, Any]) -> NotificationSpec:
    """A PATCH: the fields given replace the current ones (``on`` whole, ``smtp`` key by
    key, so a password need not be sent again); a new ``type`` starts its fields anew."""
    body: dict[str, Any] = {
        "name": current.name,
        "type": current.type,
        "on": current.on,
        "enabled": current.enabled,
    }
    kind = changes.get("type", current.type)
    if kind == current.type:
        body.update(current.config)
    for key, value in changes.items():
        if key == "smtp" and isinstance(value, Mapping) and isinstance(body.get("smtp"), Mapping):
            merged = {**body["smtp"], **value}
            if "password_file" in value and "password" not in value:
                merged.pop("password", None)  # a new file replaces the password, and back
            if "password" in value and "password_file" not in value:
                merged.pop("password_file", None)
            body["smtp"] = {k: v for k, v in merged.items() if v is not None}
        else:
            body[key] = value
    return parse_spec({k: v for k, v in body.items() if v is not None or k in COMMON_FIELDS})


def _validate(model: type[BaseModel], data: dict[str, Any], *, prefix: str = "") -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc, prefix) from None


def _invalid(exc: ValidationError, prefix: str) -> InvalidRequest:
    first = exc.errors()[0]
    loc = [str(part) for part in first.get("loc", ())]
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, _FieldError):
        loc = [*loc, cause.field]
    loc = ["from" if part == "sender" else part for part in loc]
    field = ".".join([prefix, *loc] if prefix else loc) or prefix or None
    kind = first.get("type")
    if kind == "missing":
        message = "is required"
    elif kind == "extra_forbidden":
        message = "not a field here"
    else:
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return InvalidRequest(f"{field}: {message}" if field else message, field=field)


# what the API shows, and what must stay out of texts --------------------------------------


def public_view(notification: NotificationSpec) -> dict[str, Any]:
    """The type's fields as the API shows them: secrets replaced by ``has_…`` flags."""
    config = notification.config
    if notification.type == "webhook":
        return {"url": config.get("url"), "has_secret": config.get("secret") is not None}
    if notification.type == "slack":
        return {"has_url": bool(config.get("url"))}
    smtp = dict(config.get("smtp") or {})
    has_password = smtp.pop("password", None) is not None
    return {"smtp": smtp, "has_password": has_password or "password_file" in smtp}


def secrets_of(notification: NotificationSpec) -> list[str]:
    """The secret strings of a notification (for ``redact``)."""
    config = notification.config
    found = [config.get("secret"), (config.get("smtp") or {}).get("password")]
    if notification.type == "slack" and config.get("url"):
        url = str(config["url"])
        parts = urlsplit(url)
        found += [url, parts.path, parts.query]
    return [s for s in found if isinstance(s, str) and len(s) >= 4]


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret (longest first) replaced by ``[secret]``."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= 4:
            text = text.replace(secret, "[secret]")
    return text


# retries ----------------------------------------------------------------------------------


def retry_delay(attempts: int, *, first: float, cap: float) -> float:
    """Seconds before the next try after ``attempts`` failed ones: ``first``, then
    doubling, never more than ``cap``."""
    if attempts < 1:
        return 0.0
    return float(min(cap, first * 2 ** min(attempts - 1, 62)))


# deliveries -------------------------------------------------------------------------------

DeliveryId = NewType("DeliveryId", int)
DeliveryStatus = Literal["pending", "delivered", "failed"]
DELIVERY_STATUSES: tuple[str, ...] = get_args(DeliveryStatus)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One execution to send to one notification (a row of the outbox). ``payload`` is
    the execution's JSON form as it was recorded; ``attempts`` the tries that failed."""

    id: DeliveryId
    notification_id: NotificationId
    notification_name: str
    execution_id: int
    payload: dict[str, Any]
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None = None
