"""The engine kinds scalehook knows, in one registry (``KINDS``).

Each kind says how an entry of ``backends:`` is declared (its settings model, told
apart from the others by ``type``), how the top-level shorthand (``backend: docker``
with ``docker_host:``) becomes that one entry, and how its backend is built.
``config.py`` takes the ``backends:`` union, the ``backend:`` choices and the shorthand
from here. A new engine is one module under ``backends/`` plus one entry in ``KINDS``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from scalehook.backends.base import Backend
from scalehook.backends.docker import DockerBackend, DockerSettings
from scalehook.backends.engine.address import DockerHost, EngineSettings, TlsSettings
from scalehook.backends.engine.registry_auth import RegistryAuth, RegistryLogin
from scalehook.backends.hooks import ReplicaHooks
from scalehook.backends.local import LocalBackend
from scalehook.backends.local.spec import LocalServiceSpec, LocalSettings
from scalehook.backends.swarm import SwarmBackend, SwarmSettings
from scalehook.loops.clock import Clock, SystemClock

__all__ = [
    "KINDS",
    "BackendKind",
    "BackendSettings",
    "Context",
    "DockerHost",
    "Kind",
    "LocalSettings",
    "RegistryAuth",
    "RegistryLogin",
    "Shorthand",
    "TlsSettings",
    "build_backend",
    "kind_of",
]

S = TypeVar("S", bound=BaseModel)
E = TypeVar("E", bound=EngineSettings)


@dataclass(frozen=True, slots=True)
class Shorthand:
    """The top-level keys that declare the one backend when ``backends:`` is not given."""

    docker_host: str | None = None
    docker_tls: TlsSettings | None = None
    services: dict[str, LocalServiceSpec] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Context:
    """What every backend may be built with, beside its own settings."""

    data_dir: Path
    registry_auth: RegistryAuth = field(default_factory=RegistryAuth)
    clock: Clock = field(default_factory=SystemClock)
    hooks: ReplicaHooks = field(default_factory=ReplicaHooks)  # run before it stops a replica


@dataclass(frozen=True, slots=True)
class Kind(Generic[S]):
    """One engine kind: ``settings`` (whose ``type`` default is the kind's name), how
    the top-level ``shorthand`` becomes settings (``ValueError`` saying what does not
    fit), and how a backend named ``name`` is built from them and the ``Context``."""

    settings: type[S]
    build: Callable[[str, S, Context], Backend]
    shorthand: Callable[[Shorthand], S]

    @property
    def name(self) -> str:
        return str(self.settings.model_fields["type"].default)


def _local(name: str, settings: LocalSettings, context: Context) -> Backend:
    return LocalBackend(
        name,
        settings.services,
        context.data_dir,
        clock=context.clock,
        hooks=context.hooks,
        max_replicas=settings.max_replicas,
        cgroups=settings.cgroups,
        cgroup_parent=settings.cgroup_parent,
    )


def _local_shorthand(top: Shorthand) -> LocalSettings:
    if top.docker_host or top.docker_tls:
        engines = " or ".join(k.name for k in _ENTRIES if issubclass(k.settings, EngineSettings))
        raise ValueError(f"docker_host and docker_tls go with backend {engines}")
    return LocalSettings(services=top.services)


def _docker(name: str, settings: DockerSettings, context: Context) -> Backend:
    return DockerBackend(
        name,
        settings,
        registry_auth=context.registry_auth,
        clock=context.clock,
        hooks=context.hooks,
    )


def _swarm(name: str, settings: SwarmSettings, context: Context) -> Backend:
    return SwarmBackend(
        name,
        settings,
        registry_auth=context.registry_auth,
        clock=context.clock,
        hooks=context.hooks,
    )


def _engine_shorthand(model: type[E]) -> Callable[[Shorthand], E]:
    """An engine reached by ``docker_host`` and ``docker_tls``; it runs no local services."""
    kind = model.model_fields["type"].default

    def shorthand(top: Shorthand) -> E:
        if top.services:
            raise ValueError(
                f"services: these run on the local backend, and backend is {kind!r}; "
                "to run both, name them under `backends:`"
            )
        return model(docker_host=top.docker_host, docker_tls=top.docker_tls)

    return shorthand


_ENTRIES: tuple[Kind[Any], ...] = (
    Kind(LocalSettings, _local, _local_shorthand),
    Kind(DockerSettings, _docker, _engine_shorthand(DockerSettings)),
    Kind(SwarmSettings, _swarm, _engine_shorthand(SwarmSettings)),
)
KINDS: dict[str, Kind[Any]] = {kind.name: kind for kind in _ENTRIES}
_BY_MODEL: dict[type[BaseModel], Kind[Any]] = {kind.settings: kind for kind in _ENTRIES}

if TYPE_CHECKING:
    # What mypy sees: any kind's settings, a kind's name. What pydantic validates
    # against is made from KINDS below.
    BackendSettings = BaseModel
    BackendKind = str
else:
    BackendSettings = Annotated[
        reduce(operator.or_, (kind.settings for kind in _ENTRIES)), Field(discriminator="type")
    ]
    BackendKind = Literal[tuple(KINDS)]


def kind_of(settings: BaseModel) -> Kind[Any]:
    """The kind whose settings model ``settings`` is."""
    return _BY_MODEL[type(settings)]


def build_backend(
    name: str,
    settings: BackendSettings,
    *,
    data_dir: Path,
    registry_auth: RegistryAuth | None = None,
    clock: Clock | None = None,
    hooks: ReplicaHooks | None = None,
) -> Backend:
    """The backend one entry of ``backends:`` declares (not started yet); its rollouts
    wait on ``clock``; it runs ``hooks`` before it stops a replica."""
    context = Context(
        data_dir, registry_auth or RegistryAuth(), clock or SystemClock(), hooks or ReplicaHooks()
    )
    return kind_of(settings).build(name, settings, context)
