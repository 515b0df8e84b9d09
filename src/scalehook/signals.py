"""Signals: what arrived at a trigger URL, normalised and independent of its source.

One parser per source (``sources/``) turns a body into signals; drivers decide on
signals and never read raw bodies of a known source themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal


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
    """One alert of an Alertmanager notification."""

    status: Literal["firing", "resolved"]
    fingerprint: str
    starts_at: datetime
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    ends_at: datetime | None = None


Signal = ImagePushed | Alert
