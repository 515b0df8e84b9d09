"""How the local backend and its services are declared in ``scalehook.yaml``."""

from __future__ import annotations

import os
import re
import shlex
from typing import Literal

import psutil
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from scalehook.domain.capacity import default_max_replicas, describe_default
from scalehook.domain.durations import Duration
from scalehook.domain.healthchecks import HealthCheckSpec
from scalehook.domain.images import ImageRef, InvalidImage, parse_image, valid_tag

SERVICE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
MAX_LOCAL_REPLICAS = 256


class Readiness(BaseModel):
    """When a replica may take traffic: a TCP connect, or an HTTP request that answers 2xx/3xx."""

    model_config = ConfigDict(extra="forbid")

    tcp: bool = True
    http: str | None = Field(default=None, description="request line, e.g. 'GET /healthz HTTP/1.0'")
    interval: Duration = 1.0
    timeout: Duration = 1.0
    healthy_threshold: int = Field(default=1, ge=1)
    unhealthy_threshold: int = Field(default=3, ge=1)

    @field_validator("http")
    @classmethod
    def _request_line(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = value.split()
        if len(parts) not in (2, 3) or not parts[1].startswith("/"):
            raise ValueError("write a request line such as 'GET /healthz HTTP/1.0'")
        return value

    @field_validator("interval", "timeout")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be greater than 0")
        return value


class LocalServiceSpec(BaseModel):
    """A service whose replicas are child processes of scalehook."""

    model_config = ConfigDict(extra="forbid")

    name: str = ""
    command: list[str]
    replicas: int = Field(default=1, ge=0, le=MAX_LOCAL_REPLICAS)
    port: int | None = Field(default=None, ge=1, le=65535)
    host: str = "127.0.0.1"
    labels: dict[str, str] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    readiness: Readiness = Field(default_factory=Readiness)
    stop_grace: Duration = 10.0
    wake_timeout: Duration = Field(
        default=30.0,
        description="at zero replicas, how long the balancer holds a connection while one "
        "replica is started (a policy with min 0 wakes it); then the connection is closed",
    )
    image: str | None = Field(
        default=None,
        description="e.g. acme/app:1: the repository a registry push must name to upgrade "
        "this service (default: the service name, e.g. docker.io/library/web); its tag is "
        "the first version",
    )
    version: str = Field(default="latest", description="{tag} and $TAG of the replicas")
    health: HealthCheckSpec | None = Field(
        default=None,
        description="a health check that heals (replaced by one set through the API, "
        "while that exists)",
    )

    @field_validator("command", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return shlex.split(value)
        return value

    @field_validator("command")
    @classmethod
    def _not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("a command needs at least a program")
        return value

    @field_validator("health")
    @classmethod
    def _health(cls, value: HealthCheckSpec | None, info: ValidationInfo) -> HealthCheckSpec | None:
        if value is None:
            return None
        if value.docker:
            raise ValueError("docker: local processes have no HEALTHCHECK; use http or tcp")
        replicas = info.data.get("replicas")
        if value.strategy == "quorum" and isinstance(replicas, int) and value.quorum > replicas:
            raise ValueError(
                f"quorum: {value.quorum} is more than the {replicas} replica(s) declared"
            )
        return value

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not valid_tag(value):
            raise ValueError(f"{value!r} is not a valid image tag")
        return value

    @model_validator(mode="after")
    def _image(self) -> LocalServiceSpec:
        if self.image is None:
            return self
        try:
            ref = parse_image(self.image)
        except InvalidImage as exc:
            raise ValueError(f"image: {exc}") from exc
        if ref.digest is not None:
            raise ValueError("image: a local service runs a version (a tag), not a digest")
        if ref.tag is not None:
            if "version" in self.model_fields_set and self.version != ref.tag:
                raise ValueError(
                    f"image tag {ref.tag!r} and version {self.version!r} disagree; give one"
                )
            self.version = ref.tag
        return self

    @model_validator(mode="after")
    def _name(self) -> LocalServiceSpec:
        if self.name and not SERVICE_NAME.match(self.name):
            raise ValueError(
                f"service name {self.name!r}: use lower-case letters, digits, '-', '_' or '.'"
            )
        return self

    def repository(self) -> ImageRef | None:
        """The repository a registry push must name to upgrade this service: ``image``
        without its tag, else the service name on Docker Hub (``docker.io/library/web``);
        None when the name cannot be a repository."""
        try:
            return parse_image(self.image or self.name).with_tag(None)
        except InvalidImage:
            return None

    def image_of(self, version: str, digest: str | None = None) -> str:
        """How the service's image reads at ``version``: ``acme/app:2``, ``web:latest``."""
        repository = self.repository()
        if repository is None:
            return f"{self.name}:{version}"
        return repository.with_tag(version, digest).familiar()

    def argv(self, *, port: int, version: str | None = None) -> list[str]:
        tag = self.version if version is None else version
        values = {"port": str(port), "tag": tag, "version": tag}
        return [_substitute(part, values) for part in self.command]


def _substitute(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


class LocalSettings(BaseModel):
    """The embedded engine: replicas are child processes of scalehook."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["local"] = "local"
    services: dict[str, LocalServiceSpec] = Field(default_factory=dict)
    max_replicas: int | None = Field(
        default=None,
        ge=1,
        le=MAX_LOCAL_REPLICAS * 16,
        description="the most replicas of all its services together; a scale past it is "
        "clamped. Default: from the machine, 16 per CPU, at most one per 128 MiB",
    )
    cgroups: Literal["auto", "none"] = Field(
        default="auto",
        description="auto: hold replicas to their CPU and memory limits with a cgroup "
        "each (v2, else v1) where scalehook may make them; none: never",
    )
    cgroup_parent: str = Field(
        default="scalehook",
        pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$",
        description="where under each cgroup hierarchy the replicas' cgroups go",
    )

    def most_replicas(self) -> tuple[int, str]:
        """The most replicas it holds, and where that comes from."""
        if self.max_replicas is not None:
            return self.max_replicas, "max_replicas, as set"
        cpus, memory = machine()
        return default_max_replicas(cpus, memory), describe_default(cpus, memory)

    @model_validator(mode="after")
    def _fits(self) -> LocalSettings:
        self.check_fits()
        return self

    def check_fits(self) -> None:
        """``ValueError`` when its services declare more replicas than it holds."""
        declared = sum(spec.replicas for spec in self.services.values())
        most, source = self.most_replicas()
        if declared > most:
            raise ValueError(
                f"the services declare {declared} replicas, and this backend holds at most "
                f"{most} ({source}); set max_replicas, or declare fewer"
            )


def machine() -> tuple[int, int]:
    """This machine's CPUs (those scalehook may run on) and memory, in bytes."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    return cpus, int(psutil.virtual_memory().total)
