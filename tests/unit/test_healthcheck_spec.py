"""The health check's fields (domain/healthchecks.py): defaults, the JSON form, and
what is refused with the field named."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from scalehook.domain.healthchecks import HealthCheckSpec, normalized


def refused(body: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(ValidationError) as caught:
        HealthCheckSpec.model_validate(body)
    error = caught.value.errors()[0]
    return ".".join(str(p) for p in error["loc"]), str(error["msg"])


def test_the_issue_body_reads_and_shows_back() -> None:
    body = {
        "http": "GET /healthz HTTP/1.0",
        "port": 8080,
        "interval": "2s",
        "timeout": "2s",
        "healthy_threshold": 2,
        "unhealthy_threshold": 3,
        "initializing_timeout": "60s",
        "reinitializing_timeout": "60s",
        "strategy": "recreate",
        "quorum": 1,
    }
    spec = HealthCheckSpec.model_validate(body)
    assert spec.probe == "http" and spec.interval == 2.0 and spec.acts
    shown = spec.shown()
    assert shown["interval"] == "2s" and shown["initializing_timeout"] == "1m"
    assert normalized(shown) == shown == normalized(body)


def test_probes_default_to_tcp() -> None:
    assert HealthCheckSpec().probe == "tcp"
    assert HealthCheckSpec(tcp=True).probe == "tcp"
    assert HealthCheckSpec(docker=True).probe == "docker"


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"http": "GET /healthz", "tcp": True}, "tcp", "not both"),
        ({"tcp": True, "docker": True}, "docker", "give no http or tcp"),
        ({"interval": "1s", "timeout": "2s"}, "timeout", "longer than interval (1s)"),
        ({"healthy_threshold": 0}, "healthy_threshold", "greater than or equal to 1"),
        ({"unhealthy_threshold": 0}, "unhealthy_threshold", "greater than or equal to 1"),
        ({"http": "/healthz"}, "http", "request line"),
        ({"http": "GET /x HTTP/2"}, "http", "HTTP/1.0 or HTTP/1.1"),
        ({"strategy": "recreateOnQuorum"}, "strategy", "'none', 'recreate' or 'quorum'"),
        ({"interval": "0s"}, "interval", "greater than 0"),
        ({"backoff": "1m", "max_backoff": "30s"}, "max_backoff", "at least backoff (1m)"),
        ({"quorum": 0}, "quorum", "greater than or equal to 1"),
        ({"interval": "soon"}, "interval", "not a duration"),
        ({"retries": 3}, "retries", "Extra inputs"),
    ],
)
def test_bad_checks_name_the_field(body: dict[str, Any], field: str, words: str) -> None:
    where, message = refused(body)
    assert where == field
    assert words in message
