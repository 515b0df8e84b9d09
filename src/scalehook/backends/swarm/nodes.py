"""A Swarm's nodes as the host manager sees them (``hosts.cluster.Cluster``).

The manager's engine is asked for nodes, tasks and services, and its answers become
``Host`` and ``NodeTask``: the Engine API's shapes stop here.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from scalehook.backends.engine.address import resolve_address
from scalehook.backends.engine.client import JSON, EngineClient, EngineError, EngineNotFound
from scalehook.domain.hosts import (
    PROVIDER_ID_LABEL,
    PROVIDER_LABEL,
    Host,
    HostLoad,
    JoinSpec,
    NodeTask,
)
from scalehook.errors import BackendError, BackendUnsupported, NotFound

_NANO = 1_000_000_000
_ACTIVE_STATES = ("running", "starting", "preparing")


def _filters(**filters: list[str]) -> dict[str, str]:
    return {"filters": json.dumps({k.replace("_", "-"): v for k, v in filters.items()})}


class SwarmNodes:
    """The nodes of the Swarm whose manager answers at ``docker_host``."""

    def __init__(self, docker_host: str | None = None, *, timeout: float = 60.0) -> None:
        self._client = EngineClient(resolve_address(docker_host, None), timeout=timeout)

    async def close(self) -> None:
        await self._client.close()

    async def self_node_id(self) -> str | None:
        info = await self._client.get("/info")
        swarm = info.get("Swarm") or {}
        if swarm.get("LocalNodeState") != "active":
            raise BackendUnsupported("the docker engine scalehook uses is not part of a swarm")
        if not swarm.get("ControlAvailable"):
            raise BackendUnsupported("the docker engine scalehook uses is not a swarm manager")
        node_id = swarm.get("NodeID")
        return str(node_id) if node_id else None

    async def join_spec(self) -> JoinSpec:
        swarm, info = await asyncio.gather(self._client.get("/swarm"), self._client.get("/info"))
        managers = tuple(m["Addr"] for m in (info.get("Swarm") or {}).get("RemoteManagers") or ())
        return JoinSpec(token=swarm["JoinTokens"]["Worker"], managers=managers)

    async def hosts(self, *, self_id: str | None) -> list[Host]:
        nodes, tasks = await asyncio.gather(
            self._client.get("/nodes"),
            self._client.get("/tasks", params=_filters(desired_state=["running"])),
        )
        per_node: dict[str, list[Mapping[str, Any]]] = {}
        for task in tasks:
            per_node.setdefault(task.get("NodeID", ""), []).append(task)
        return [node_host(n, per_node.get(n["ID"], []), self_id=self_id) for n in nodes]

    async def _node(self, node_id: str) -> JSON:
        try:
            return await self._client.get(f"/nodes/{node_id}")
        except EngineNotFound as exc:
            raise NotFound(exc.message) from exc

    async def update_node(
        self,
        node_id: str,
        *,
        labels: Mapping[str, str] | None = None,
        availability: str | None = None,
    ) -> None:
        for _ in range(5):
            node = await self._node(node_id)
            spec = dict(node["Spec"])
            if labels is not None:
                spec["Labels"] = dict(labels)
            if availability is not None:
                spec["Availability"] = availability
            try:
                await self._client.request(
                    "POST",
                    f"/nodes/{node_id}/update",
                    params={"version": int(node["Version"]["Index"])},
                    json=spec,
                )
                return
            except EngineNotFound as exc:
                raise NotFound(exc.message) from exc
            except EngineError as exc:
                if "update out of sequence" not in exc.engine_text:
                    raise
        raise BackendError(f"node {node_id} kept changing while scalehook updated it")

    async def remove_node(self, node_id: str) -> None:
        try:
            await self._client.request("DELETE", f"/nodes/{node_id}", params={"force": "true"})
        except EngineNotFound:
            return

    async def running_tasks(self, node_id: str) -> list[NodeTask]:
        tasks = await self._client.get("/tasks", params=_filters(node=[node_id]))
        return [
            NodeTask(id=str(t["ID"]), service_id=t.get("ServiceID") or None)
            for t in tasks
            if t.get("DesiredState") == "running"
            or t.get("Status", {}).get("State") in _ACTIVE_STATES
        ]  # fmt: skip

    async def services_settled(self, service_ids: set[str], away_from: str) -> bool:
        for service_id in service_ids:
            try:
                service = await self._client.get(f"/services/{service_id}")
            except EngineNotFound:
                continue
            replicated = service["Spec"].get("Mode", {}).get("Replicated")
            if replicated is None:
                continue
            tasks = await self._client.get(
                "/tasks", params=_filters(service=[service_id], desired_state=["running"])
            )
            running = [
                t for t in tasks
                if t.get("Status", {}).get("State") == "running" and t.get("NodeID") != away_from
            ]  # fmt: skip
            if len(running) < int(replicated.get("Replicas", 0)):
                return False
        return True

    async def wait_for_node(self, *, node_id: str | None, hostname: str, timeout: float) -> Host:
        deadline = time.monotonic() + timeout
        last = "not seen yet"
        while time.monotonic() < deadline:
            for node in await self._client.get("/nodes"):
                matches = (
                    node["ID"] == node_id
                    if node_id
                    else (node.get("Description", {}).get("Hostname") == hostname)
                )
                if matches:
                    state = node.get("Status", {}).get("State", "unknown")
                    if state == "ready":
                        return node_host(node, [], self_id=None)
                    last = state
            await asyncio.sleep(0.5)
        raise BackendError(f"host {hostname} did not become Ready in {timeout:g}s ({last})")


def _time(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    # Docker writes nanoseconds (none at all when they are zero); Python parses micro.
    head, dot, rest = text.partition(".")
    if not dot:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    digits = len(rest) - len(rest.lstrip("0123456789"))
    fraction, zone = rest[: min(digits, 6)], rest[digits:] or "Z"
    return datetime.fromisoformat(f"{head}.{fraction or '0'}{zone.replace('Z', '+00:00')}")


def node_host(
    node: Mapping[str, Any], tasks: Sequence[Mapping[str, Any]], *, self_id: str | None
) -> Host:
    """A Swarm node (``GET /nodes``) and the tasks meant to run on it, as a ``Host``."""
    spec = node.get("Spec", {})
    description = node.get("Description", {})
    resources = description.get("Resources", {})
    labels = dict(spec.get("Labels") or {})
    running = [t for t in tasks if t.get("Status", {}).get("State") == "running"]
    cpu = mem = 0
    for task in tasks:
        reservation = task.get("Spec", {}).get("Resources", {}).get("Reservations", {})
        cpu += int(reservation.get("NanoCPUs", 0))
        mem += int(reservation.get("MemoryBytes", 0))
    return Host(
        id=node["ID"],
        name=spec.get("Name") or description.get("Hostname", node["ID"]),
        state=node.get("Status", {}).get("State", "unknown"),
        availability=spec.get("Availability", "active"),
        role=spec.get("Role", "worker"),
        labels=labels,
        created=_time(node.get("CreatedAt")),
        provider=labels.get(PROVIDER_LABEL),
        provider_id=labels.get(PROVIDER_ID_LABEL),
        address=node.get("Status", {}).get("Addr"),
        load=HostLoad(
            running_tasks=len(running),
            cpu_reserved=cpu / _NANO,
            cpu_total=int(resources.get("NanoCPUs", 0)) / _NANO,
            memory_reserved=mem,
            memory_total=int(resources.get("MemoryBytes", 0)),
        ),
        is_self=node["ID"] == self_id,
    )
