"""Prometheus Alertmanager's webhook body (``"version": "4"``) as an ``AlertGroup``.

Alertmanager retries a notification on 5xx and drops it on 4xx, so a body that is
recognised as Alertmanager's but cannot be read is refused with 400 (``InvalidPayload``)
and a message naming the field: sending it again would never work.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from scalehook.domain.signals import Alert, AlertGroup, AlertStatus, Signal
from scalehook.errors import InvalidPayload

VERSION = "4"
_MAX_ALERTS = 10_000
_MAX_TEXT = 10_000
# Go's zero time.Time: what Alertmanager sends as endsAt while an alert still fires.
_ZERO_YEAR = 1


class AlertmanagerSource:
    name = "alertmanager"
    title = "Alertmanager notifications"

    def recognises(self, body: Any, headers: Mapping[str, str]) -> bool:
        """An object with ``alerts`` and a ``version`` or ``groupKey``: Alertmanager's shape.

        Any version counts, so that a future version is refused clearly instead of being
        taken for a plain trigger (which would scale on every re-send).
        """
        return (
            isinstance(body, dict)
            and "alerts" in body
            and ("version" in body or "groupKey" in body)
        )

    def parse(self, body: Any, headers: Mapping[str, str]) -> list[Signal]:
        return [parse_group(body)]


SOURCE = AlertmanagerSource()


def parse_group(body: Any) -> AlertGroup:
    """The notification in ``body`` (JSON-decoded), or ``InvalidPayload`` naming the field."""
    if not isinstance(body, dict):
        raise _invalid("", "the body must be a JSON object")
    version = body.get("version")
    if version != VERSION:
        raise _invalid(
            "version", f"{version!r} is not supported; scalehook reads version {VERSION!r}"
        )
    raw_alerts = body.get("alerts")
    if not isinstance(raw_alerts, list):
        raise _invalid("alerts", "must be a list")
    if len(raw_alerts) > _MAX_ALERTS:
        raise _invalid("alerts", f"holds {len(raw_alerts)} alerts; at most {_MAX_ALERTS} are read")
    alerts = tuple(_alert(raw, f"alerts[{i}]") for i, raw in enumerate(raw_alerts))
    status = body.get("status")
    if status is None:
        status = "firing" if any(a.status == "firing" for a in alerts) else "resolved"
    truncated = body.get("truncatedAlerts", 0)
    if not isinstance(truncated, int) or isinstance(truncated, bool) or truncated < 0:
        raise _invalid("truncatedAlerts", "must be a whole number, 0 or more")
    reason = body.get("notification_reason")
    return AlertGroup(
        status=_status(status, "status"),
        alerts=alerts,
        group_key=_text(body.get("groupKey", ""), "groupKey"),
        receiver=_text(body.get("receiver", ""), "receiver"),
        group_labels=_labels(body.get("groupLabels"), "groupLabels"),
        common_labels=_labels(body.get("commonLabels"), "commonLabels"),
        truncated=truncated,
        external_url=_text(body.get("externalURL", ""), "externalURL"),
        reason=None if reason is None else _text(reason, "notification_reason"),
    )


def _alert(raw: Any, where: str) -> Alert:
    if not isinstance(raw, dict):
        raise _invalid(where, "must be an object")
    fingerprint = raw.get("fingerprint")
    if not isinstance(fingerprint, str) or not fingerprint or len(fingerprint) > 64:
        raise _invalid(f"{where}.fingerprint", "must be a string of 1 to 64 characters")
    if "startsAt" not in raw:
        raise _invalid(f"{where}.startsAt", "is required")
    starts_at = _time(raw["startsAt"], f"{where}.startsAt")
    ends_at = _time(raw["endsAt"], f"{where}.endsAt") if raw.get("endsAt") else None
    if ends_at is not None and ends_at.year == _ZERO_YEAR:
        ends_at = None
    return Alert(
        status=_status(raw.get("status"), f"{where}.status"),
        fingerprint=fingerprint,
        starts_at=starts_at,
        labels=_labels(raw.get("labels"), f"{where}.labels"),
        annotations=_labels(raw.get("annotations"), f"{where}.annotations"),
        ends_at=ends_at,
    )


def _status(value: Any, where: str) -> AlertStatus:
    if value == "firing":
        return "firing"
    if value == "resolved":
        return "resolved"
    raise _invalid(where, f"{value!r} is neither 'firing' nor 'resolved'")


def _time(value: Any, where: str) -> datetime:
    """An RFC 3339 time (Go writes up to nanoseconds; microseconds are kept), in UTC."""
    if not isinstance(value, str):
        raise _invalid(where, "must be an RFC 3339 time string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:  # from None: its text repeats the whole value; this shows 60 chars
        raise _invalid(where, f"{value[:60]!r} is not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise _invalid(where, f"{value[:60]!r} has no time zone")
    return parsed.astimezone(UTC)


def _labels(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid(where, "must be an object of strings")
    for key, item in value.items():
        if not isinstance(item, str):
            raise _invalid(f"{where}.{key}", "must be a string")
    return dict(value)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _invalid(where, "must be a string")
    return value[:_MAX_TEXT]


def _invalid(where: str, message: str) -> InvalidPayload:
    text = f"Alertmanager body: {where}: {message}" if where else f"Alertmanager body: {message}"
    return InvalidPayload(text, field=where or None)
