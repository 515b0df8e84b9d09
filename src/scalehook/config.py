"""Settings from ``scalehook.yaml`` and the environment, validated once at start.

A bad file stops scalehook with a message naming the field, before anything runs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from scalehook.backends.kinds import (
    KINDS,
    BackendKind,
    BackendSettings,
    DockerHost,
    LocalSettings,
    RegistryLogin,
    Shorthand,
    TlsSettings,
)
from scalehook.backends.local.spec import SERVICE_NAME, LocalServiceSpec
from scalehook.balancers.settings import BalancerSettings, check_names
from scalehook.config_sources import Layers, read_environment, read_file
from scalehook.domain.durations import Duration
from scalehook.domain.healthchecks import HealthCheckSpec
from scalehook.domain.masking import SecretUrl
from scalehook.errors import ScalehookError
from scalehook.hosts.settings import HostsSettings
from scalehook.log_levels import LogLevel
from scalehook.notifications.settings import NotificationSettings
from scalehook.store.database import DEFAULT_POOL, DatabaseUrlError, normalise_url

DEFAULT_PORT = 8085
BACKEND_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,62}$")
ONE_MIB = 1024 * 1024


def default_data_dir() -> Path:
    env = os.environ.get("SCALEHOOK_DATA_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "scalehook"


class ConfigError(ScalehookError):
    """``scalehook.yaml``, the environment or the command line asks for something that
    cannot run; ``problems`` lists each thing wrong, one line each; ``field`` the setting,
    when one is to blame (e.g. ``balancers.edge.haproxy.socket``)."""

    status = 400
    code = "config_error"

    def __init__(
        self, message: str, *, problems: Sequence[str] = (), field: str | None = None
    ) -> None:
        super().__init__(message, field=field)
        self.problems: tuple[str, ...] = tuple(problems) or (message,)


class RateLimit(BaseModel):
    """A token bucket: ``rate`` triggers per second, up to ``burst`` at once."""

    model_config = ConfigDict(extra="forbid")

    rate: float = Field(gt=0, description="triggers per second")
    burst: int = Field(ge=1, description="triggers that may arrive at once")


class HookSettings(BaseModel):
    """Limits on the trigger endpoint, which anyone holding a URL can call."""

    model_config = ConfigDict(extra="forbid")

    max_body: int = Field(default=ONE_MIB, ge=1024, description="bytes; larger bodies get 413")
    rate: float = Field(default=20.0, gt=0, description="triggers per second per receiver")
    burst: int = Field(default=40, ge=1, description="triggers a receiver may take at once")
    receivers: dict[str, RateLimit] = Field(
        default_factory=dict,
        description="per receiver name, a limit that replaces rate and burst for it",
    )


class ServerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    public_url: str | None = Field(
        default=None, description="base of trigger URLs; default: the URL the caller used"
    )
    trusted_proxies: list[str] = Field(
        default_factory=list, description="addresses whose X-Forwarded-For is believed"
    )
    header_timeout: Annotated[Duration, Field(gt=0)] = Field(
        default=10.0,
        description="a request's headers must arrive within this, else the connection is closed",
    )
    request_timeout: Annotated[Duration, Field(gt=0)] = Field(
        default=10.0, description="a request's body must arrive within this, else 408"
    )
    keep_alive: Annotated[Duration, Field(gt=0)] = 5.0


class LeaderSettings(BaseModel):
    """The leader lease (PostgreSQL): one instance runs the loops at a time."""

    model_config = ConfigDict(extra="forbid")

    lease: Annotated[Duration, Field(gt=0)] = Field(
        default=15.0,
        description="how long the database keeps the lease after a renewal; a dead "
        "leader's successor takes over within this",
    )
    renew: Annotated[Duration, Field(gt=0)] = Field(
        default=5.0,
        description="how often the leader renews; it stops leading when no renewal has "
        "succeeded for lease - renew",
    )

    @model_validator(mode="after")
    def _check(self) -> LeaderSettings:
        if self.renew * 2 >= self.lease:
            raise ValueError(
                f"renew ({self.renew:g}s) must be less than half of lease ({self.lease:g}s), "
                "so that a renewal can fail once before the leader stops"
            )
        return self


class PrometheusSettings(BaseModel):
    """Where policies' ``prometheus`` metrics send their PromQL instant queries."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        pattern=r"^https?://[^\s/]+", description="e.g. http://127.0.0.1:9090 (no /api/v1)"
    )
    timeout: Annotated[Duration, Field(gt=0)] = Field(
        default=5.0, description="longest wait for one query's answer"
    )


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: BackendKind = Field(
        default="local", description="the one engine, when `backends` is not given"
    )
    docker_host: DockerHost | None = Field(
        default=None, description="backend docker or swarm: the engine; default $DOCKER_HOST"
    )
    docker_tls: TlsSettings | None = Field(
        default=None, description="backend docker or swarm: TLS; default from $DOCKER_CERT_PATH"
    )
    backends: dict[str, BackendSettings] = Field(
        default_factory=dict,
        description="several engines at once, by name; after validation, always filled",
    )
    services: dict[str, LocalServiceSpec] = Field(
        default_factory=dict, description="the local backend's services"
    )
    database: SecretUrl | None = Field(
        default=None,
        repr=False,
        description="SQLAlchemy URL (postgresql+asyncpg://user:pass@host/db for several "
        "instances); default SQLite in the data dir; its password is a secret",
    )
    database_pool: int = Field(
        default=DEFAULT_POOL,
        ge=4,
        le=1000,
        description="PostgreSQL: most connections this instance opens (a target being acted "
        "on holds one for its action; at most half of them do at once)",
    )
    sqlite_synchronous: Literal["full", "normal"] = Field(
        default="full",
        description="SQLite: full syncs every commit (an answered trigger survives a power "
        "cut); normal may lose the last commits on a power cut, never on a crash",
    )
    leader: LeaderSettings = Field(default_factory=LeaderSettings)
    alone: bool = Field(
        default=False,
        description="PostgreSQL: this is the only instance on the database, so a local "
        "backend (this machine's processes) is allowed",
    )
    data_dir: Path = Field(default_factory=default_data_dir)
    server: ServerSettings = Field(default_factory=ServerSettings)
    hooks: HookSettings = Field(default_factory=HookSettings)
    hosts: HostsSettings | None = Field(default=None, description="host scaling (Swarm nodes)")
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    balancers: dict[str, BalancerSettings] = Field(
        default_factory=dict,
        description="load balancers (HAProxy) whose backends scalehook keeps in step",
    )
    prometheus: PrometheusSettings | None = Field(
        default=None, description="the Prometheus that policies' prometheus metrics query"
    )
    registries: dict[str, RegistryLogin] = Field(
        default_factory=dict,
        description='logins by registry host ("localhost:5000", "ghcr.io"), before '
        "~/.docker/config.json, for pulls and Swarm updates",
    )
    log_level: LogLevel = "info"
    log_format: Literal["text", "json"] = Field(
        default="text", description="text lines, or one JSON object per line"
    )

    @model_validator(mode="after")
    def _check(self) -> Settings:
        check_names(self.balancers)
        if self.backends:
            self._check_backends()
        else:
            self.backends = {self.backend: self._one_backend()}
        self._check_database()
        ports: dict[int, str] = {}
        for local in self.backends.values():
            if not isinstance(local, LocalSettings):
                continue
            local.check_fits()
            for name, spec in local.services.items():
                if not SERVICE_NAME.match(name):
                    raise ValueError(
                        f"service name {name!r}: use lower-case letters, digits, '-', '_' or '.'"
                    )
                spec.name = name
                if spec.port is not None:
                    if spec.port in ports:
                        raise ValueError(
                            f"services {ports[spec.port]!r} and {name!r} both want port {spec.port}"
                        )
                    ports[spec.port] = name
        return self

    def _check_database(self) -> None:
        if self.database is None:
            return
        try:
            url = normalise_url(self.database)
        except DatabaseUrlError as exc:
            raise ValueError(f"database: {exc.message}") from None
        if url.startswith("sqlite") or self.alone:
            return
        local = sorted(n for n, b in self.backends.items() if isinstance(b, LocalSettings))
        if local:
            raise ValueError(
                f"the local backend {local[0]!r} runs services as this machine's processes, "
                "which other instances on the same PostgreSQL cannot see or stop. With "
                "several instances use docker or swarm backends; if this is the only "
                "instance on that database, say so with `alone: true`"
            )

    def _one_backend(self) -> BackendSettings:
        """``backend:`` (with ``docker_host:``) as the one entry it stands for."""
        top = Shorthand(
            docker_host=self.docker_host, docker_tls=self.docker_tls, services=self.services
        )
        one: BackendSettings = KINDS[self.backend].shorthand(top)
        return one

    def _check_backends(self) -> None:
        given = sorted({"backend", "docker_host", "docker_tls"} & self.model_fields_set)
        if given:
            raise ValueError(
                f"give either `backends:` (several engines) or {', '.join(given)} (one), not both"
            )
        for name in self.backends:
            if not BACKEND_NAME.match(name):
                raise ValueError(
                    f"backend name {name!r}: start with a letter; use lower-case letters, "
                    "digits, '-', '_' or '.' (no '/': it separates backend and service)"
                )
        if not self.services:
            return
        local = [b for b in self.backends.values() if isinstance(b, LocalSettings)]
        if len(local) != 1:
            raise ValueError(
                "services: top-level services need exactly one backend of type local; "
                "with several, give each its own `services:`"
            )
        if local[0].services:
            raise ValueError(
                "services: give the local services at the top or under their backend, not both"
            )
        local[0].services = self.services

    def declared_health_checks(self) -> dict[str, HealthCheckSpec]:
        """The health checks ``scalehook.yaml`` declares, by service ref (backend/name)."""
        return {
            f"{backend}/{name}": spec.health
            for backend, settings in self.backends.items()
            if isinstance(settings, LocalSettings)
            for name, spec in settings.services.items()
            if spec.health is not None
        }

    def local_services(self) -> Iterator[LocalServiceSpec]:
        """Every service that runs on a local backend."""
        for backend in self.backends.values():
            if isinstance(backend, LocalSettings):
                yield from backend.services.values()

    @property
    def database_url(self) -> str:
        return self.database or f"sqlite+aiosqlite:///{self.data_dir / 'scalehook.db'}"


CLI_FLAGS: dict[str, tuple[tuple[str, ...], str]] = {
    "host": (("server", "host"), "--host"),
    "port": (("server", "port"), "--port"),
    "data_dir": (("data_dir",), "--data-dir"),
}
"""Command-line options that set a setting: (its path, the flag)."""


def read_settings(
    path: Path | None, *, env: Mapping[str, str] | None = None, **overrides: Any
) -> tuple[Settings | None, list[str]]:
    """The settings from ``path`` (if any), the ``SCALEHOOK_*`` environment and the
    command line, in that order, each over the one before; or every problem, each
    naming where it came from (``scalehook.yaml:12: services.web.replicas: ...``)."""
    layers = Layers()
    if path is not None:
        read_file(path, layers)
    file_failed = bool(layers.problems)
    read_environment(os.environ if env is None else env, Settings, layers)
    for key, (loc, flag) in CLI_FLAGS.items():
        if overrides.get(key) is not None:
            value = overrides[key]
            layers.set(loc, str(value) if isinstance(value, Path) else value, flag)
    problems = list(layers.problems)
    if file_failed:
        return None, problems
    try:
        settings = Settings.model_validate(layers.raw)
    except ValidationError as exc:
        return None, problems + describe_validation(exc, layers)
    if problems:
        return None, problems
    base = path.resolve().parent if path is not None else Path.cwd()
    settings.data_dir = (_relative_to(layers, ("data_dir",), base) / settings.data_dir).resolve()
    for spec in settings.local_services():
        spec.cwd = str((base / spec.cwd).resolve()) if spec.cwd else str(base)
    notifications = settings.notifications
    if notifications.ca_file is not None:
        loc = ("notifications", "ca_file")
        notifications.ca_file = (_relative_to(layers, loc, base) / notifications.ca_file).resolve()
        try:
            notifications.ssl_context()
        except ValueError as exc:
            return None, [f"{layers.origin(loc)}: notifications.ca_file: {exc}"]
    return settings, []


def _relative_to(layers: Layers, loc: tuple[str, ...], base: Path) -> Path:
    """What a relative path at ``loc`` is relative to: the file's folder when the file
    gave it, else the working directory (an environment variable, a flag)."""
    if layers.file is not None and layers.origin(loc).startswith(f"{layers.file}:"):
        return base
    return Path.cwd()


def load_settings(
    path: Path | None, *, env: Mapping[str, str] | None = None, **overrides: Any
) -> Settings:
    """``read_settings``, or ``ConfigError`` listing every problem, one per line."""
    settings, problems = read_settings(path, env=env, **overrides)
    if settings is None:
        raise ConfigError("\n".join(problems), problems=problems)
    return settings


SHORTHAND = frozenset({"backend", "docker_host", "docker_tls", "services"})
"""Top-level keys that declare one backend: after validation ``backends`` holds them."""


def effective(settings: Settings) -> dict[str, Any]:
    """The settings as a ``scalehook.yaml`` would say them, every secret masked."""
    data: dict[str, Any] = settings.model_dump(
        mode="json", context={"mask": True}, exclude=set(SHORTHAND)
    )
    return data


def describe_validation(exc: ValidationError, layers: Layers) -> list[str]:
    """One line per problem, with its origin: ``scalehook.yaml:12: services.web.replicas:
    Input should be ...`` or ``SCALEHOOK_SERVER__PORT: server.port: ...``."""
    lines = []
    for error in exc.errors():
        loc = layers.data_path(error["loc"])
        where = ".".join(loc)
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "not a setting"
        origin = layers.origin(loc)
        lines.append(f"{origin}: {where}: {message}" if where else f"{origin}: {message}")
    return lines
