"""The Alertmanager parser: the real payload, every malformed shape, and what is not ours."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalehook.domain.signals import AlertGroup
from scalehook.errors import InvalidPayload
from scalehook.sources import SOURCES, by_name, decode_json, detect, read_signals
from scalehook.sources.alertmanager import parse_group

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "alertmanager-v4-firing.json"


AM = frozenset({"alertmanager"})


def real() -> dict[str, Any]:
    body: dict[str, Any] = json.loads(REAL.read_text())
    return body


def test_the_real_payload() -> None:
    source, signals = read_signals(
        REAL.read_bytes(), {"user-agent": "Alertmanager/0.25.0"}, among=AM
    )
    assert source == "alertmanager"
    (group,) = signals
    assert isinstance(group, AlertGroup)
    assert (group.status, group.receiver, group.group_key) == ("firing", "hook", "{}:{}")
    assert group.common_labels["service"] == "web"
    (alert,) = group.alerts
    assert alert.status == "firing"
    assert alert.fingerprint == "6f80eac9335ada6f"
    assert alert.starts_at == datetime(2026, 11, 23, 6, 14, 58, 206000, tzinfo=UTC)
    assert alert.ends_at is None  # Go's zero time means "still firing"
    assert alert.name == "HighLoad"
    assert alert.labels == {"alertname": "HighLoad", "service": "web", "severity": "page"}
    assert alert.annotations == {"summary": "load high"}


def test_times_keep_microseconds_and_become_utc() -> None:
    body = real()
    body["alerts"][0]["startsAt"] = "2026-11-23T07:14:58.206123456+01:00"
    body["alerts"][0]["endsAt"] = "2026-11-23T06:20:00Z"
    alert = parse_group(body).alerts[0]
    assert alert.starts_at == datetime(2026, 11, 23, 6, 14, 58, 206123, tzinfo=UTC)
    assert alert.ends_at == datetime(2026, 11, 23, 6, 20, tzinfo=UTC)


def test_optional_keys_of_older_and_newer_servers() -> None:
    body = real()
    for key in ("groupLabels", "commonLabels", "commonAnnotations", "truncatedAlerts", "status"):
        del body[key]
    body["notification_reason"] = "repeat interval elapsed"
    body["routeLabels"] = {"team": "a"}
    group = parse_group(body)
    assert group.status == "firing"
    assert group.reason == "repeat interval elapsed"
    assert group.truncated == 0


def test_resolved_and_empty_groups() -> None:
    body = real()
    body["status"] = "resolved"
    body["alerts"][0]["status"] = "resolved"
    assert parse_group(body).alerts[0].status == "resolved"
    body["alerts"] = []
    body.pop("status")
    assert parse_group(body) == AlertGroup(
        status="resolved",
        alerts=(),
        group_key="{}:{}",
        receiver="hook",
        common_labels=real()["commonLabels"],
        external_url="http://alertmanager.example:9093",
    )


def _set(path: str, value: Any) -> dict[str, Any]:
    body = real()
    target: Any = body
    parts = path.split(".")
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target[part]
    last = parts[-1]
    if value is _DELETE:
        del target[last]
    else:
        target[int(last) if last.isdigit() else last] = value
    return body


_DELETE = object()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_set("version", "5"), "version"),
        (_set("version", 4), "version"),
        (_set("alerts", {"a": 1}), "alerts"),
        (_set("alerts.0", "firing"), "alerts[0]"),
        (_set("alerts.0.status", "pending"), "alerts[0].status"),
        (_set("alerts.0.status", _DELETE), "alerts[0].status"),
        (_set("alerts.0.fingerprint", _DELETE), "alerts[0].fingerprint"),
        (_set("alerts.0.fingerprint", ""), "alerts[0].fingerprint"),
        (_set("alerts.0.fingerprint", 7), "alerts[0].fingerprint"),
        (_set("alerts.0.fingerprint", "f" * 65), "alerts[0].fingerprint"),
        (_set("alerts.0.startsAt", _DELETE), "alerts[0].startsAt"),
        (_set("alerts.0.startsAt", "yesterday"), "alerts[0].startsAt"),
        (_set("alerts.0.startsAt", "2026-11-23T06:14:58"), "alerts[0].startsAt"),
        (_set("alerts.0.startsAt", 1700000000), "alerts[0].startsAt"),
        (_set("alerts.0.endsAt", "soon"), "alerts[0].endsAt"),
        (_set("alerts.0.labels", ["a"]), "alerts[0].labels"),
        (_set("alerts.0.labels.severity", 3), "alerts[0].labels.severity"),
        (_set("alerts.0.annotations", "x"), "alerts[0].annotations"),
        (_set("commonLabels", "x"), "commonLabels"),
        (_set("status", "burning"), "status"),
        (_set("truncatedAlerts", -1), "truncatedAlerts"),
        (_set("truncatedAlerts", True), "truncatedAlerts"),
        (_set("groupKey", 12), "groupKey"),
    ],
)
def test_malformed_bodies_name_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidPayload) as caught:
        parse_group(body)
    assert caught.value.status == 400
    assert caught.value.field == field
    assert caught.value.message.startswith(f"Alertmanager body: {field}: ")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"x" * 100,
        b"\x00\xff",
        b"[1, 2]",
        b'{"hello": "world"}',
        b'{"version": "4"}',  # no alerts: not a notification
        b'{"alerts": []}',  # neither version nor groupKey
        b"{not json",
        b'"a string"',
    ],
)
def test_other_bodies_are_plain_triggers(body: bytes) -> None:
    assert read_signals(body, {}, among=AM) == (None, [])
    assert read_signals(REAL.read_bytes(), {}, among=()) == (None, [])


def test_recognised_by_shape_whatever_the_version() -> None:
    body = real()
    body["version"] = "5"
    assert detect(body, {}) is by_name("alertmanager")
    with pytest.raises(InvalidPayload):
        read_signals(json.dumps(body).encode(), {}, among=AM)
    assert SOURCES[0].name == "alertmanager"
    assert by_name("nothing") is None


def test_decode_json_only_tries_objects() -> None:
    assert decode_json(b'  {"a": 1}') == {"a": 1}
    assert decode_json(b"[" * 100_000) is None
    assert decode_json(b"{" * 100_000) is None


_scalar = st.none() | st.booleans() | st.integers() | st.text(max_size=30)
_json = (
    _scalar
    | st.lists(_scalar, max_size=3)
    | st.dictionaries(st.text(max_size=5), _scalar, max_size=3)
    | st.sampled_from(["firing", "resolved", "4", "2026-11-23T06:14:58Z", "0001-01-01T00:00:00Z"])
)


@given(
    mutation=st.dictionaries(
        st.sampled_from(["version", "alerts", "status", "groupKey", "truncatedAlerts"]),
        _json,
        max_size=3,
    ),
    alert=st.dictionaries(
        st.sampled_from(["status", "fingerprint", "startsAt", "endsAt", "labels"]),
        _json,
        max_size=3,
    ),
)
def test_any_body_parses_or_is_refused_with_400(
    mutation: dict[str, Any], alert: dict[str, Any]
) -> None:
    body = copy.deepcopy(real())
    body["alerts"][0].update(alert)
    body.update(mutation)
    refused: InvalidPayload | None = None
    try:
        read_signals(json.dumps(body).encode(), {}, among=AM)
    except InvalidPayload as exc:
        refused = exc
    if refused is not None:
        assert refused.status == 400
        assert refused.message.startswith("Alertmanager body: ")
