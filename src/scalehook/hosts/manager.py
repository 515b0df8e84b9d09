"""Host groups in practice: list hosts with what providers know, add one, remove one.

Adding waits until the new node is Ready in the Swarm and carries its labels; a host
that never gets there is destroyed again, so nothing is left half-made. Removing
drains first (tasks move elsewhere, up to a deadline), then the provider destroys the
machine and the node leaves the Swarm.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from scalehook.domain.hosts import PROVIDER_ID_LABEL, PROVIDER_LABEL, Host
from scalehook.domain.selectors import Selector
from scalehook.errors import Conflict, InvalidRequest, NotFound, ScalehookError
from scalehook.hosts.cluster import Cluster
from scalehook.hosts.providers.base import GroupProvider, HostProvider, ProviderHost
from scalehook.loops.clock import Clock, SystemClock

log = logging.getLogger(__name__)


NOT_CONFIGURED = "host scaling is not configured (add a 'hosts:' section to scalehook.yaml)"


class HostManager:
    def __init__(
        self,
        cluster: Cluster,
        providers: Mapping[str, HostProvider],
        *,
        ready_timeout: float,
        self_node: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.cluster = cluster
        self.providers = dict(providers)
        self.ready_timeout = ready_timeout
        self._self_node = self_node
        self._manager_node: str | None = None

    async def start(self) -> None:
        for provider in self.providers.values():
            await provider.start()

    async def close(self) -> None:
        for provider in self.providers.values():
            await provider.close()
        await self.cluster.close()

    def provider(self, name: str) -> HostProvider:
        try:
            return self.providers[name]
        except KeyError:  # from None: the KeyError only repeats the name this message gives
            known = ", ".join(sorted(self.providers)) or "none are configured"
            raise InvalidRequest(
                f"provider {name!r} is not configured (known: {known})", field="provider"
            ) from None

    async def _self_id(self) -> str | None:
        """The node scalehook runs on: configured, else the manager's own (asked once)."""
        if self._self_node is not None:
            return self._self_node
        if self._manager_node is None:
            self._manager_node = await self.cluster.self_node_id()
        return self._manager_node

    async def list(self, selector: Selector | None = None) -> list[Host]:
        """Cluster nodes, plus provider machines that are not (or no longer) nodes."""
        self_id = await self._self_id()
        nodes = await self.cluster.hosts(self_id=self_id)
        machines: dict[tuple[str, str], ProviderHost] = {}
        for maker_name, maker in self.providers.items():
            for found in await maker.list():
                machines[(maker_name, found.id)] = found
        # a group's machines join by themselves: their node is found by its hostname
        by_hostname = {
            machine.name: (provider, machine)
            for (provider, _), machine in machines.items()
            if isinstance(self.providers[provider], GroupProvider)
        }
        hosts: list[Host] = []
        for node in nodes:
            host = node
            adopted = by_hostname.get(node.name) if node.provider is None else None
            if adopted is not None:
                host = replace(host, provider=adopted[0], provider_id=adopted[1].id)
            if self._self_node is not None and self._self_node in (node.id, node.name):
                host = replace(host, is_self=True)
            machine = machines.pop((host.provider or "", host.provider_id or ""), None)
            if machine is not None and machine.state == "error":
                host = replace(host, state="error")
            hosts.append(host)
        for (provider, _), machine in machines.items():
            hosts.append(
                Host(
                    id=f"{provider}:{machine.id}",
                    name=machine.name,
                    state="error" if machine.state in ("error", "pending") else "unknown",
                    availability="-",
                    role="worker",
                    labels=dict(machine.labels),
                    created=machine.created,
                    provider=provider,
                    provider_id=machine.id,
                    address=machine.address,
                )
            )
        if selector:
            hosts = [h for h in hosts if selector.matches(h.labels)]
        return sorted(hosts, key=lambda h: (h.created, h.name))

    async def find(self, ident: str) -> Host:
        for host in await self.list():
            if ident in (host.id, host.name):
                return host
        raise NotFound(f"no host {ident!r}")

    async def add(
        self,
        *,
        provider: str,
        labels: Mapping[str, str],
        name: str,
        like: Host | None = None,
    ) -> Host:
        """Create a host named ``name``, wait until it is Ready in the Swarm, label it."""
        maker = self.provider(provider)
        template = None
        if like is not None and like.provider_id is not None:
            template = next((m for m in await maker.list() if m.id == like.provider_id), None)
        join = await self.cluster.join_spec()
        machine = await maker.create(name=name, like=template, labels=labels, join=join)
        try:
            node = await self.cluster.wait_for_node(
                node_id=machine.node_id, hostname=machine.name, timeout=self.ready_timeout
            )
            await self.cluster.update_node(
                node.id,
                labels={**labels, PROVIDER_LABEL: provider, PROVIDER_ID_LABEL: machine.id},
            )
        except BaseException:
            log.error("host %s did not join; destroying it", name)
            await asyncio.shield(self._discard(maker, machine))
            raise
        return await self.find(node.id)

    async def _discard(self, maker: HostProvider, machine: ProviderHost) -> None:
        try:
            await maker.destroy(host=machine)
            if machine.node_id:
                await self.cluster.remove_node(machine.node_id)
        except ScalehookError as exc:
            log.error("could not destroy half-made host %s: %s", machine.name, exc.message)

    async def remove(self, host: Host, *, drain_timeout: float) -> dict[str, Any]:
        """Drain, destroy and forget one host; say what happened to its tasks."""
        reason = host.removable()
        if reason is not None:
            raise Conflict(f"host {host.name} is never removed: {reason}")
        assert host.provider is not None
        maker = self.provider(host.provider)
        report: dict[str, Any] = {"host": host.name, "id": host.id, "state": host.state}
        is_node = not host.id.startswith(f"{host.provider}:")  # else a machine that never joined
        if isinstance(maker, GroupProvider):
            leaving = next((m for m in await maker.list() if m.id == host.provider_id), None)
            if leaving is not None:
                await maker.check_removal(leaving)
        if is_node:
            report.update(await self._drain(host, drain_timeout))
        machine = next((m for m in await maker.list() if m.id == host.provider_id), None)
        if machine is not None:
            await maker.destroy(host=machine)
        if is_node:
            await self.cluster.remove_node(host.id)
        return report

    async def _drain(self, host: Host, timeout: float) -> dict[str, Any]:
        tasks = await self.cluster.running_tasks(host.id)
        services = {t.service_id for t in tasks if t.service_id}
        started = self.clock.monotonic()
        await self.cluster.update_node(host.id, availability="drain")
        drained = True
        if host.state == "ready":
            while await self.cluster.running_tasks(host.id) or not (
                await self.cluster.services_settled(services, away_from=host.id)
            ):
                if self.clock.monotonic() - started > timeout:
                    drained = False
                    break
                await self.clock.sleep(0.5)
        return {
            "tasks_before": len(tasks),
            "drained": drained,
            "drain_seconds": round(self.clock.monotonic() - started, 2),
        }


def check_labels(labels: Mapping[str, str]) -> None:
    for key in labels:
        if key.startswith("scalehook.provider"):
            raise InvalidRequest(f"labels.{key}: scalehook sets this label itself", field="labels")
