"""The engine types scalehook knows: how each is declared in ``scalehook.yaml`` and built.

A new engine is one module under ``backends/`` plus one line in each table below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from scalehook.backends.base import Backend
from scalehook.backends.docker import DockerBackend, DockerSettings
from scalehook.backends.local import LocalBackend, LocalServiceSpec
from scalehook.backends.swarm import SwarmBackend, SwarmSettings


class LocalSettings(BaseModel):
    """The embedded engine: replicas are child processes of scalehook."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["local"] = "local"
    services: dict[str, LocalServiceSpec] = Field(default_factory=dict)


BackendSettings = Annotated[
    LocalSettings | DockerSettings | SwarmSettings, Field(discriminator="type")
]


def build_backend(name: str, settings: BackendSettings, *, data_dir: Path) -> Backend:
    """The backend one entry of ``backends:`` declares (not started yet)."""
    if isinstance(settings, LocalSettings):
        return LocalBackend(name, settings.services, data_dir)
    if isinstance(settings, DockerSettings):
        return DockerBackend(name, settings)
    return SwarmBackend(name, settings)
