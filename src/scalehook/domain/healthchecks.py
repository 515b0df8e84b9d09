"""What a service's health check says: how to probe a replica, how often, when it
counts as healthy or unhealthy, and what to do about an unhealthy one.

One model for the three places a check is written (the API body, ``scalehook apply``,
a local service's ``health:`` block in ``scalehook.yaml``), so each refuses the same
things with the field named: a timeout longer than the interval, thresholds below 1,
``http`` and ``tcp`` together. What needs the service itself (a quorum above its
count, ``docker`` on a backend that has no engine) is checked where the service is
known (``health/checks.py``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    field_validator,
)

from scalehook.domain.durations import format_duration, parse_duration

Strategy = Literal["none", "recreate", "quorum"]
Probe = Literal["http", "tcp", "docker"]

_DAY = 86_400.0


def _written(seconds: float) -> str:
    return format_duration(seconds)


Seconds = Annotated[
    float,
    BeforeValidator(parse_duration, json_schema_input_type=float | str),
    PlainSerializer(_written, return_type=str, when_used="json"),
]
"""A duration read as people write it (``2s``, ``1m30s``, ``0.5``) and shown back in
that form (``"2s"``) in JSON: a number or a string either way, so the schema is one."""


class HealthCheckSpec(BaseModel):
    """A health check of one service (Rancher Cattle's fields, our names)."""

    # one schema for what is sent and what is shown (a client generator needs one model)
    model_config = ConfigDict(extra="forbid", json_schema_mode_override="validation")

    http: str | None = Field(
        default=None,
        description="an HTTP request line, e.g. 'GET /healthz HTTP/1.0': a 2xx or 3xx "
        "answer passes",
    )
    tcp: bool = Field(default=False, description="a TCP connect passes (the default probe)")
    docker: bool = Field(
        default=False,
        description="the container's own HEALTHCHECK status, as the engine reports it "
        "(docker and swarm backends)",
    )
    port: int | None = Field(
        default=None, ge=1, le=65535, description="port to probe; default: the replica's port"
    )
    interval: Annotated[Seconds, Field(gt=0, le=_DAY)] = Field(
        default=2.0, description="time between two checks of a replica"
    )
    timeout: Annotated[Seconds, Field(gt=0, le=_DAY)] = Field(
        default=2.0, description="a check without an answer by then fails; at most interval"
    )
    healthy_threshold: int = Field(
        default=2, ge=1, le=1000, description="passes in a row that make a replica healthy"
    )
    unhealthy_threshold: int = Field(
        default=3, ge=1, le=1000, description="failures in a row that make it unhealthy"
    )
    initializing_timeout: Annotated[Seconds, Field(gt=0, le=_DAY)] = Field(
        default=60.0,
        description="a new replica not healthy by then counts as unhealthy (not with none)",
    )
    reinitializing_timeout: Annotated[Seconds, Field(gt=0, le=_DAY)] = Field(
        default=60.0, description="the same for a replica that was recreated or restarted"
    )
    strategy: Strategy = Field(
        default="recreate",
        description="none: mark and report only; recreate: replace an unhealthy replica; "
        "quorum: replace one only while at least `quorum` replicas are healthy",
    )
    quorum: int = Field(
        default=1, ge=1, le=10_000, description="healthy replicas quorum needs (strategy quorum)"
    )
    max_recreations: int = Field(
        default=5, ge=1, le=10_000, description="recreations of the service per recreation_window"
    )
    recreation_window: Annotated[Seconds, Field(gt=0, le=30 * _DAY)] = Field(
        default=600.0, description="the window max_recreations counts in"
    )
    backoff: Annotated[Seconds, Field(ge=0, le=_DAY)] = Field(
        default=10.0,
        description="least time between two recreations of the service, doubled after "
        "each recreation in the window",
    )
    max_backoff: Annotated[Seconds, Field(ge=0, le=_DAY)] = Field(
        default=300.0, description="the backoff doubles up to this"
    )

    @field_validator("http")
    @classmethod
    def _request_line(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = value.split()
        if len(parts) not in (2, 3) or not parts[1].startswith("/"):
            raise ValueError("write a request line such as 'GET /healthz HTTP/1.0'")
        if not parts[0].isalpha() or not parts[0].isupper():
            raise ValueError(f"{parts[0]!r} is not an HTTP method (GET, HEAD, ...)")
        if len(parts) == 3 and parts[2] not in ("HTTP/1.0", "HTTP/1.1"):
            raise ValueError(f"{parts[2]!r}: the version is HTTP/1.0 or HTTP/1.1")
        return " ".join(parts)

    @field_validator("tcp")
    @classmethod
    def _one_of_http_tcp(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("http") is not None:
            raise ValueError("give http or tcp, not both")
        return value

    @field_validator("docker")
    @classmethod
    def _one_of_all(cls, value: bool, info: ValidationInfo) -> bool:
        if value and (info.data.get("http") is not None or info.data.get("tcp")):
            raise ValueError("docker uses the container's own HEALTHCHECK: give no http or tcp")
        return value

    @field_validator("timeout")
    @classmethod
    def _within_interval(cls, value: float, info: ValidationInfo) -> float:
        interval = info.data.get("interval")
        if isinstance(interval, float) and value > interval:
            raise ValueError(
                f"must not be longer than interval ({format_duration(interval)}): "
                "a check would still run when the next one is due"
            )
        return value

    @field_validator("max_backoff")
    @classmethod
    def _above_backoff(cls, value: float, info: ValidationInfo) -> float:
        backoff = info.data.get("backoff")
        if isinstance(backoff, float) and value < backoff:
            raise ValueError(f"must be at least backoff ({format_duration(backoff)})")
        return value

    @property
    def probe(self) -> Probe:
        """How a replica is checked: ``http``, ``docker``, else ``tcp``."""
        if self.http is not None:
            return "http"
        return "docker" if self.docker else "tcp"

    @property
    def acts(self) -> bool:
        """Whether the strategy ever replaces a replica (all but ``none``)."""
        return self.strategy != "none"

    def shown(self) -> dict[str, object]:
        """The JSON form: every field, durations written as people write them."""
        return self.model_dump(mode="json")


def normalized(raw: object) -> dict[str, object]:
    """A check as the server would hold it (defaults filled, durations in one form):
    two checks that read the same compare equal. Raises pydantic's ValidationError."""
    return HealthCheckSpec.model_validate(raw).shown()
