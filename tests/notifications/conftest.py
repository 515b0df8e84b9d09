"""Fixtures for the notification tests: a real HTTP sink, and servers that retry fast."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.notifications.sinks import HttpSink

FAST = {"backoff": "200ms", "max_backoff": "1s", "poll": "200ms", "timeout": "5s"}
"""Retries a test can wait for: 0.2 s, doubling to 1 s."""


def config(services: dict[str, Any], **notifications: Any) -> dict[str, Any]:
    return {"services": services, "notifications": {**FAST, **notifications}}


@pytest.fixture
def sink() -> Iterator[HttpSink]:
    with HttpSink() as running:
        yield running
