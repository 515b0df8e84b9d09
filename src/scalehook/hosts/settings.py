"""The ``hosts:`` section of ``scalehook.yaml``: which Swarm, and which providers.

This is where the host manager is put together: the one module of ``hosts/`` that
knows which backends module speaks to the Swarm (``backends/swarm/nodes.py``) and to
the engines providers start (``backends/swarm/engines.py``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from scalehook.backends.swarm.engines import NodeEngine
from scalehook.backends.swarm.nodes import SwarmNodes
from scalehook.domain.durations import Duration
from scalehook.hosts.manager import HostManager
from scalehook.hosts.providers.aws_asg import AwsAsgProvider, AwsAsgSettings
from scalehook.hosts.providers.base import HostProvider
from scalehook.hosts.providers.libcloud import LibcloudProvider, LibcloudSettings
from scalehook.hosts.providers.netns import NetnsProvider, NetnsSettings
from scalehook.loops.clock import Clock


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


def netns_provider(
    settings: NetnsSettings, *, data_dir: Path, manager: str | None, load_images: bool = True
) -> NetnsProvider:
    """A netns provider whose new hosts load their images from the Swarm manager's
    engine (``manager``, a ``docker_host``; default ``$DOCKER_HOST`` or the socket)."""
    return NetnsProvider(
        settings,
        engine_at=NodeEngine,
        images_from=NodeEngine(manager) if load_images else None,
        data_dir=data_dir,
    )


def build_host_manager(
    settings: HostsSettings, data_dir: Path, *, clock: Clock | None = None
) -> HostManager:
    providers: dict[str, HostProvider] = {}
    if settings.providers.netns is not None:
        providers["netns"] = netns_provider(
            settings.providers.netns, data_dir=data_dir, manager=settings.docker_host
        )
    if settings.providers.libcloud is not None:
        providers["libcloud"] = LibcloudProvider(settings.providers.libcloud)
    if settings.providers.aws_asg is not None:
        providers["aws_asg"] = AwsAsgProvider(settings.providers.aws_asg)
    return HostManager(
        SwarmNodes(settings.docker_host),
        providers,
        ready_timeout=settings.ready_timeout,
        self_node=settings.self_node,
        clock=clock,
    )
