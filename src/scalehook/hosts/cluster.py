"""The Swarm as a set of nodes: read them with their load, label, drain and remove them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from scalehook.errors import BackendError, BackendUnsupported, NotFound
from scalehook.hosts.engine import Engine
from scalehook.hosts.model import PROVIDER_ID_LABEL, PROVIDER_LABEL, Host, HostLoad
from scalehook.hosts.providers.base import JoinSpec

_NANO = 1_000_000_000


def _time(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    # Docker writes nanoseconds; Python parses microseconds.
    head, _, rest = text.partition(".")
    fraction = "".join(c for c in rest if c.isdigit())[:6]
    zone = rest[len("".join(c for c in rest if c.isdigit())) :] or "Z"
    return datetime.fromisoformat(f"{head}.{fraction or '0'}{zone.replace('Z', '+00:00')}")


class SwarmCluster:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def self_node_id(self) -> str | None:
        info = await self.engine.get("/info")
        swarm = info.get("Swarm") or {}
        if swarm.get("LocalNodeState") != "active":
            raise BackendUnsupported("the docker engine scalehook uses is not part of a swarm")
        if not swarm.get("ControlAvailable"):
            raise BackendUnsupported("the docker engine scalehook uses is not a swarm manager")
        node_id = swarm.get("NodeID")
        return str(node_id) if node_id else None

    async def join_spec(self) -> JoinSpec:
        swarm = await self.engine.get("/swarm")
        info = await self.engine.get("/info")
        managers = tuple(m["Addr"] for m in info.get("Swarm", {}).get("RemoteManagers") or ())
        return JoinSpec(token=swarm["JoinTokens"]["Worker"], managers=managers)

    async def hosts(self, *, self_id: str | None) -> list[Host]:
        nodes, tasks = await asyncio.gather(
            self.engine.get("/nodes"),
            self.engine.get("/tasks", filters={"desired-state": ["running"]}),
        )
        per_node: dict[str, list[Mapping[str, Any]]] = {}
        for task in tasks:
            per_node.setdefault(task.get("NodeID", ""), []).append(task)
        return [node_host(n, per_node.get(n["ID"], []), self_id=self_id) for n in nodes]

    async def node(self, node_id: str) -> Mapping[str, Any]:
        node: Mapping[str, Any] = await self.engine.get(f"/nodes/{node_id}")
        return node

    async def update_node(
        self,
        node_id: str,
        *,
        labels: Mapping[str, str] | None = None,
        availability: str | None = None,
    ) -> None:
        for _ in range(5):
            node = await self.node(node_id)
            spec = dict(node["Spec"])
            if labels is not None:
                spec["Labels"] = dict(labels)
            if availability is not None:
                spec["Availability"] = availability
            try:
                await self.engine.post(
                    f"/nodes/{node_id}/update", spec, version=node["Version"]["Index"]
                )
                return
            except BackendError as exc:
                if "update out of sequence" not in exc.message:
                    raise
        raise BackendError(f"node {node_id} kept changing while scalehook updated it")

    async def remove_node(self, node_id: str) -> None:
        try:
            await self.engine.delete(f"/nodes/{node_id}", force=True)
        except NotFound:
            return

    async def running_tasks(self, node_id: str) -> list[Mapping[str, Any]]:
        tasks = await self.engine.get("/tasks", filters={"node": [node_id]})
        return [
            t for t in tasks
            if t.get("DesiredState") == "running"
            or t.get("Status", {}).get("State") in ("running", "starting", "preparing")
        ]  # fmt: skip

    async def services_settled(self, service_ids: set[str], away_from: str) -> bool:
        """True when each service runs all its replicas on nodes other than ``away_from``."""
        for service_id in service_ids:
            try:
                service = await self.engine.get(f"/services/{service_id}")
            except NotFound:
                continue
            replicated = service["Spec"].get("Mode", {}).get("Replicated")
            if replicated is None:
                continue
            tasks = await self.engine.get(
                "/tasks", filters={"service": [service_id], "desired-state": ["running"]}
            )
            running = [
                t for t in tasks
                if t.get("Status", {}).get("State") == "running" and t.get("NodeID") != away_from
            ]  # fmt: skip
            if len(running) < int(replicated.get("Replicas", 0)):
                return False
        return True

    async def wait_for_node(
        self, *, node_id: str | None, hostname: str, timeout: float
    ) -> Mapping[str, Any]:
        """Wait until the node (by id, else by hostname) is Ready; return it."""
        deadline = time.monotonic() + timeout
        last = "not seen yet"
        while time.monotonic() < deadline:
            for node in await self.engine.get("/nodes"):
                matches = (
                    node["ID"] == node_id
                    if node_id
                    else (node.get("Description", {}).get("Hostname") == hostname)
                )
                if matches:
                    state = node.get("Status", {}).get("State", "unknown")
                    if state == "ready":
                        return dict(node)
                    last = state
            await asyncio.sleep(0.5)
        raise BackendError(f"host {hostname} did not become Ready in {timeout:g}s ({last})")


def node_host(
    node: Mapping[str, Any], tasks: list[Mapping[str, Any]], *, self_id: str | None
) -> Host:
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
