"""Alertmanager notification bodies, shaped exactly as Alertmanager 0.25 sends them."""

from __future__ import annotations

import hashlib
from typing import Any

USER_AGENT = {"User-Agent": "Alertmanager/0.25.0"}


def am_alert(
    name: str,
    status: str = "firing",
    *,
    fingerprint: str | None = None,
    starts_at: str = "2026-11-23T06:14:58.206Z",
    **labels: str,
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, **labels},
        "annotations": {"summary": f"{name} is {status}"},
        "startsAt": starts_at,
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-23T06:20:00Z",
        "generatorURL": "http://prometheus.invalid/graph",
        "fingerprint": fingerprint or hashlib.sha256(name.encode()).hexdigest()[:16],
    }


def notification(*alerts: dict[str, Any]) -> dict[str, Any]:
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "receiver": "scalehook",
        "status": "firing" if firing else "resolved",
        "alerts": list(alerts),
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.invalid:9093",
        "version": "4",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
    }
