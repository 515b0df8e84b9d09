"""Signals: what arrived at a trigger URL, normalised and independent of its source.

One parser per source (``sources/``) turns a body into signals; drivers decide on
signals and never read raw bodies of a known source themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

AlertStatus = Literal["firing", "resolved"]


@dataclass(frozen=True, slots=True)
class ImagePushed:
    """A registry announced a pushed image (normalised: ``docker.io``, ``library/nginx``)."""

    source: str
    registry: str
    repository: str
    tag: str | None
    digest: str | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert of an Alertmanager notification.

    ``fingerprint`` and ``starts_at`` together name one incident: Alertmanager re-sends
    the same pair for as long as the alert keeps firing, and a new firing after a
    resolve gets a new ``starts_at``.
    """

    status: AlertStatus
    fingerprint: str
    starts_at: datetime
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    ends_at: datetime | None = None

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")


@dataclass(frozen=True, slots=True)
class AlertGroup:
    """One Alertmanager notification: the alerts of a group, sent together in one POST."""

    status: AlertStatus
    alerts: tuple[Alert, ...]
    group_key: str = ""
    receiver: str = ""
    group_labels: Mapping[str, str] = field(default_factory=dict)
    common_labels: Mapping[str, str] = field(default_factory=dict)
    truncated: int = 0
    external_url: str = ""
    reason: str | None = None


Signal = ImagePushed | Alert | AlertGroup
