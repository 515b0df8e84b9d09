"""The ``hosts:`` section of ``scalehook.yaml``: which Swarm, and which providers."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from scalehook.domain.durations import Duration
from scalehook.hosts.cluster import SwarmCluster
from scalehook.hosts.engine import Engine
from scalehook.hosts.manager import HostManager
from scalehook.hosts.providers.aws_asg import AwsAsgProvider, AwsAsgSettings
from scalehook.hosts.providers.base import HostProvider
from scalehook.hosts.providers.libcloud import LibcloudProvider, LibcloudSettings
from scalehook.hosts.providers.netns import NetnsProvider, NetnsSettings


class ProviderSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    netns: NetnsSettings | None = None
    libcloud: LibcloudSettings | None = None
    aws_asg: AwsAsgSettings | None = None


class HostsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    docker_host: str | None = Field(
        default=None, description="the Swarm manager's engine; default DOCKER_HOST or the socket"
    )
    self_node: str | None = Field(
        default=None,
        description="node id or name of the host scalehook runs on (default: the manager's)",
    )
    ready_timeout: Duration = 120.0
    drain_timeout: Duration = Field(default=300.0, description="default for DELETE /v1/hosts")
    providers: ProviderSettings = Field(default_factory=ProviderSettings)


def build_host_manager(settings: HostsSettings, data_dir: Path) -> HostManager:
    manager = Engine(settings.docker_host)
    providers: dict[str, HostProvider] = {}
    if settings.providers.netns is not None:
        providers["netns"] = NetnsProvider(
            settings.providers.netns, manager=manager, data_dir=data_dir
        )
    if settings.providers.libcloud is not None:
        providers["libcloud"] = LibcloudProvider(settings.providers.libcloud)
    if settings.providers.aws_asg is not None:
        providers["aws_asg"] = AwsAsgProvider(settings.providers.aws_asg)
    return HostManager(
        SwarmCluster(manager),
        providers,
        ready_timeout=settings.ready_timeout,
        self_node=settings.self_node,
    )
