"""``netns``: a host is a Docker engine in its own network namespace on this machine.

It gives a real multi-node Swarm on one Linux machine (as root), for tests and demos.
Each host gets a namespace ``<prefix>-<name>`` on the provider's bridge
(``network.py``) and its own detached ``dockerd`` (``dockerd.py``); the manager's images
are loaded into it, then it joins the Swarm as a worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from scalehook.domain.durations import Duration
from scalehook.errors import BackendError, BackendUnsupported, InvalidRequest, ScalehookError
from scalehook.hosts.providers.base import JoinSpec, ProviderHost
from scalehook.hosts.providers.engine import EngineAt, HostEngine
from scalehook.hosts.providers.netns.dockerd import Dockerd, StateFile
from scalehook.hosts.providers.netns.network import Network

log = logging.getLogger(__name__)

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
LEAVE_WAIT = 15.0

Then = Callable[[HostEngine, str], Awaitable[str | None]]
"""What finishes a new host once its engine answers (given it and the host's address):
join a Swarm; returns the node id."""


class NetnsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prefix: str = Field(default="shk", pattern=r"^[a-z][a-z0-9]{0,7}$")
    bridge: str = Field(default="shk0", pattern=r"^[a-z][a-z0-9]{0,8}$")
    subnet: str = "10.213.0.0/24"
    pool: str | None = Field(
        default=None, description="part of the subnet to give hosts addresses from (default all)"
    )
    images: list[str] = Field(default_factory=lambda: ["*"], description="tags to load")
    dockerd: str = "dockerd"
    start_timeout: Duration = 60.0
    state_dir: Path | None = None

    @field_validator("subnet")
    @classmethod
    def _subnet(cls, value: str) -> str:
        network = ipaddress.ip_network(value)
        if not network.is_private or network.version != 4 or network.num_addresses < 4:
            raise ValueError("use a private IPv4 range of at least 4 addresses")
        return str(network)

    @field_validator("pool")
    @classmethod
    def _pool(cls, value: str | None) -> str | None:
        return None if value is None else str(ipaddress.ip_network(value))


class NetnsProvider:
    """Hosts in network namespaces; ``engine_at`` reaches an engine by its address, and
    ``images_from`` (the Swarm manager's engine, or None for none) gives the images to
    load into each new one."""

    def __init__(
        self,
        settings: NetnsSettings,
        *,
        engine_at: EngineAt,
        images_from: HostEngine | None,
        data_dir: Path,
    ) -> None:
        self.settings = settings
        self._engine_at = engine_at
        self._images_from = images_from
        self._dir = settings.state_dir or data_dir / "hosts" / "netns"
        self._state = StateFile(self._dir / "hosts.json")
        self._network = Network(bridge=settings.bridge, subnet=settings.subnet, pool=settings.pool)
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return "netns"

    async def start(self) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)

    async def close(self) -> None:
        if self._images_from is not None:
            await self._images_from.close()

    def _dockerd(self, name: str) -> Dockerd:
        return Dockerd.of(name, prefix=self.settings.prefix, state_dir=self._dir)

    def engine_host(self, name: str) -> str:
        """The ``docker_host`` URL of a host's engine."""
        return self._dockerd(name).docker_host

    # listing ---------------------------------------------------------------------

    async def list(self) -> list[ProviderHost]:
        return [self._host(name, record) for name, record in sorted(self._state.load().items())]

    def _host(self, name: str, record: dict[str, Any]) -> ProviderHost:
        state = record.get("state", "running")
        if state == "running" and not self._dockerd(name).running():
            state = "stopped"
        return ProviderHost(
            provider=self.name,
            id=record["namespace"],
            name=name,
            state=state,
            created=datetime.fromisoformat(record["created"]),
            address=record["address"],
            node_id=record.get("node_id"),
            labels=dict(record.get("labels") or {}),
            error=record.get("error"),
        )

    # create ----------------------------------------------------------------------

    async def create(
        self,
        *,
        name: str,
        like: ProviderHost | None,
        labels: Mapping[str, str],
        join: JoinSpec,
    ) -> ProviderHost:
        managers = list(join.managers)
        loopback = self._network.loopback_managers(managers)

        async def join_swarm(engine: HostEngine, address: str) -> str | None:
            remotes = managers
            if loopback:
                # A manager on this machine advertising 127.0.0.1 (a one-node Swarm made
                # with --advertise-addr 127.0.0.1): join through the bridge's address.
                await self._network.reach_host_loopback(self._dockerd(name).namespace, address)
                remotes = loopback
            await self._load_images(engine)
            return await engine.join_swarm(token=join.token, address=address, managers=remotes)

        return await self.create_engine(name, labels=labels, then=join_swarm)

    async def create_engine(
        self, name: str, *, labels: Mapping[str, str] | None = None, then: Then | None = None
    ) -> ProviderHost:
        """Make the namespace and start its engine; ``then`` finishes the job (joins)."""
        if not NAME.match(name):
            raise InvalidRequest(f"host name {name!r}: use lower-case letters, digits and '-'")
        if os.geteuid() != 0:
            raise BackendUnsupported("the netns provider needs root (network namespaces, dockerd)")
        dockerd = self._dockerd(name)
        async with self._lock:
            hosts = self._state.load()
            if name in hosts:
                raise BackendError(f"a netns host named {name!r} exists already")
            address = self._network.allocate(r["address"] for r in hosts.values())
            hosts[name] = {
                "namespace": dockerd.namespace,
                "address": str(address),
                "created": datetime.now(UTC).isoformat(),
                "labels": dict(labels or {}),
                "state": "pending",
            }
            self._state.save(hosts)
        node_id: str | None = None
        try:
            await self._network.ensure_bridge()
            await self._network.make_namespace(dockerd.namespace, address)
            await dockerd.start(self.settings.dockerd)
            engine = self._engine_at(dockerd.docker_host)
            try:
                await dockerd.wait(engine, timeout=self.settings.start_timeout)
                if then is not None:
                    node_id = await then(engine, str(address))
            finally:
                await engine.close()
        except BaseException as exc:
            log.error("netns host %s could not be made: %s", name, _describe(exc))
            with contextlib.suppress(Exception):
                await self._teardown(name)
            async with self._lock:
                hosts = self._state.load()
                hosts.pop(name, None)
                self._state.save(hosts)
            if isinstance(exc, ScalehookError):
                raise
            if isinstance(exc, Exception):
                raise BackendError(f"netns host {name}: {_describe(exc)}") from exc
            raise
        async with self._lock:
            hosts = self._state.load()
            hosts[name].update(state="running", node_id=node_id)
            self._state.save(hosts)
            return self._host(name, hosts[name])

    async def _load_images(self, engine: HostEngine) -> None:
        if self._images_from is None:
            return
        tags = await self._images_from.image_tags(self.settings.images)
        if tags:
            await engine.load_images(self._images_from.export_images(tags))

    # destroy ---------------------------------------------------------------------

    async def destroy(self, *, host: ProviderHost) -> None:
        async with self._lock:
            if host.name not in self._state.load():
                return
        engine = self._engine_at(self._dockerd(host.name).docker_host)
        try:
            with contextlib.suppress(ScalehookError):
                await asyncio.wait_for(engine.leave_swarm(), LEAVE_WAIT)
        except TimeoutError:
            pass
        finally:
            await engine.close()
        await self._teardown(host.name)
        async with self._lock:
            hosts = self._state.load()
            hosts.pop(host.name, None)
            self._state.save(hosts)

    async def stop_engine(self, name: str) -> None:
        """Stop a host's engine but keep the host: for tests of a node going Down."""
        await self._dockerd(name).stop()

    async def _teardown(self, name: str) -> None:
        dockerd = self._dockerd(name)
        await dockerd.halt()
        address = self._state.load().get(name, {}).get("address")
        await self._network.remove_namespace(dockerd.namespace, address)
        dockerd.remove_files()


def _describe(exc: BaseException) -> str:
    return exc.message if isinstance(exc, ScalehookError) else f"{type(exc).__name__}: {exc}"
