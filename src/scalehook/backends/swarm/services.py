"""The Swarm calls the swarm backend is built from: read a service and its tasks, write
a service spec at the version read, look at a container of this engine. Reading,
scaling, recreating and the update watch all go through these, so a service is found
and written one way only.
"""

from __future__ import annotations

import json

from scalehook.backends.engine import JSON, EngineClient, EngineError, EngineNotFound
from scalehook.backends.engine.registry_auth import RegistryAuth
from scalehook.backends.swarm.update import container_image
from scalehook.errors import ServiceNotFound


class Services:
    def __init__(self, client: EngineClient, *, backend: str, auth: RegistryAuth) -> None:
        self._client = client
        self._backend = backend
        self._auth = auth

    async def get(self, service: str) -> JSON:
        """A service by name or id, or ``ServiceNotFound``."""
        try:
            return await self._client.get(f"/services/{service}")
        except EngineNotFound as exc:
            raise ServiceNotFound(
                f"no service named {service!r} on backend {self._backend!r}"
            ) from exc

    async def tasks(self, *, service: str | None = None, current: bool = True) -> list[JSON]:
        """Tasks (``current``: those meant to run) of every service, or of ``service``
        (a name or an id: the engine finds it, or answers 404 → ``ServiceNotFound``)."""
        filters: dict[str, list[str]] = {}
        if current:
            filters["desired-state"] = ["running"]
        if service is not None:
            filters["service"] = [service]
        try:
            tasks: list[JSON] = await self._client.get(
                "/tasks", params={"filters": json.dumps(filters)}
            )
        except EngineNotFound as exc:
            raise ServiceNotFound(
                f"no service named {service!r} on backend {self._backend!r}"
            ) from exc
        if any(t.get("ServiceID") == service for t in tasks):  # an id: exactly its tasks
            tasks = [t for t in tasks if t.get("ServiceID") == service]
        return tasks

    async def write(
        self, found: JSON, spec: JSON, *, name: str, doing: str, rollback: bool = False
    ) -> JSON | None:
        """POST ``spec`` at the version that was read, with its image's registry
        credentials when some are found (the nodes pull with them); ``None`` when the
        service changed since (read it again), the engine's own words when it refuses."""
        try:
            answer = await self._client.request(
                "POST",
                f"/services/{found['ID']}/update",
                params={
                    "version": found["Version"]["Index"],
                    **({"rollback": "previous"} if rollback else {}),
                },
                json=spec,
                headers=await self._auth.headers(container_image(spec)),
            )
        except EngineNotFound as exc:
            raise ServiceNotFound(
                f"service {name!r} went away on backend {self._backend!r}"
            ) from exc
        except EngineError as exc:
            if "out of sequence" in exc.engine_text:
                return None
            raise exc.reworded(f"cannot {doing} {name}: {exc.engine_text}") from exc
        result: JSON = answer.json() or {}
        return result

    async def container(self, container: str) -> JSON | None:
        """A task's container, when this engine runs it (else None: another node's)."""
        try:
            return await self._client.get(f"/containers/{container}/json")
        except EngineError:  # on another node, or removed
            return None


def container_of(task: JSON) -> str:
    """The id of a task's container ('' before it has one)."""
    return str(((task.get("Status") or {}).get("ContainerStatus") or {}).get("ContainerID") or "")
