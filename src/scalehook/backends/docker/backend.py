"""The ``docker`` backend: services on one plain Docker engine, scaled by cloning.

Plain Docker has no replica count to set, so the containers that exist are the
desired count: scale-up clones the newest replica (``clone.py``), scale-down stops
the newest ones gracefully and removes them. A scale-up that fails half-way removes
what it created, so a service is never left between two counts by a failure.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Iterable
from datetime import datetime
from typing import Literal, TypeVar

from pydantic import Field

from scalehook.backends.base import (
    Progress,
    Replica,
    ReplicaStats,
    ServiceState,
    UpgradeResult,
    UpgradeStrategy,
)
from scalehook.backends.docker.clone import plan_replica
from scalehook.backends.docker.groups import (
    COMPOSE_NUMBER,
    COMPOSE_SERVICE,
    REPLICA_LABEL,
    SERVICE_LABEL,
    Container,
    Group,
    find,
    group,
    names,
)
from scalehook.backends.engine import (
    JSON,
    EngineClient,
    EngineConflict,
    EngineError,
    EngineNotFound,
    EngineSettings,
    resolve_address,
)
from scalehook.backends.engine.stats import container_stats
from scalehook.durations import Duration
from scalehook.errors import BackendError, BackendUnavailable, InvalidRequest
from scalehook.selectors import Selector

log = logging.getLogger(__name__)

MAX_DOCKER_REPLICAS = 256
DEFAULT_STOP_GRACE = 10.0
_PARALLEL = 4  # containers created or stopped at once: enough to overlap, kind to the engine

T = TypeVar("T")


class DockerSettings(EngineSettings):
    """A plain Docker engine (``docker run``, ``docker compose up``)."""

    type: Literal["docker"] = "docker"
    stop_grace: Duration | None = Field(
        default=None,
        description="SIGKILL this long after the stop signal; default: the container's own",
    )


class DockerBackend:
    kind = "docker"

    def __init__(self, name: str, settings: DockerSettings) -> None:
        self._name = name
        self._settings = settings
        self._client = EngineClient(
            resolve_address(settings.docker_host, settings.docker_tls), timeout=settings.timeout
        )
        self._limit = asyncio.Semaphore(_PARALLEL)

    @property
    def name(self) -> str:
        return self._name

    async def start(self) -> None:
        try:
            await self._client.ping()
        except BackendError as exc:  # scalehook runs on; each use tries again
            log.warning("backend %s: %s", self._name, exc.message)

    async def close(self) -> None:
        await self._client.close()

    # reading ---------------------------------------------------------------------

    async def _groups(self) -> list[Group]:
        """Every service on the engine: containers carrying either kind of label."""
        answers = await asyncio.gather(
            *(
                self._client.get(
                    "/containers/json",
                    params={"all": "1", "filters": json.dumps({"label": [label]})},
                )
                for label in (SERVICE_LABEL, COMPOSE_SERVICE)
            )
        )
        rows = {row["Id"]: row for answer in answers for row in answer}
        return group(Container.of(row) for row in rows.values())

    async def _find(self, service: str) -> tuple[str, Group]:
        return find(await self._groups(), service, backend=self._name)

    async def list_services(self, *, selector: Selector | None = None) -> list[ServiceState]:
        states = [
            g.state(name=n, backend=self._name) for n, g in names(await self._groups()).items()
        ]
        return sorted(
            (s for s in states if selector is None or selector.matches(s.labels)),
            key=lambda s: s.name,
        )

    async def get_service(self, *, service: str) -> ServiceState:
        name, found = await self._find(service)
        return found.state(name=name, backend=self._name)

    async def replicas(self, *, service: str) -> list[Replica]:
        name, found = await self._find(service)
        records = await asyncio.gather(*(self._inspect(c.id) for c in found.containers))
        return [
            _replica(container, record, service=name)
            for container, record in zip(found.containers, records, strict=True)
        ]

    async def upgrade(
        self,
        *,
        service: str,
        image: str,
        previous: str | None,
        strategy: UpgradeStrategy,
        progress: Progress,
    ) -> UpgradeResult:
        raise InvalidRequest(f"rolling upgrades on {self.kind} are not implemented yet")

    async def stats(self, *, service: str) -> list[ReplicaStats]:
        _, found = await self._find(service)
        running = [c for c in found.containers if c.running]
        samples = await asyncio.gather(*(container_stats(self._client, c.id) for c in running))
        return [
            ReplicaStats(replica=c.name, cpu_percent=sample[0], memory_bytes=sample[1])
            for c, sample in zip(running, samples, strict=True)
            if sample is not None
        ]

    async def _inspect(self, container: str) -> JSON | None:
        try:
            return await self._client.get(f"/containers/{container}/json")
        except EngineNotFound:
            return None

    # scaling ---------------------------------------------------------------------

    async def scale(self, *, service: str, replicas: int) -> ServiceState:
        if replicas < 1:
            raise InvalidRequest(
                "a docker service keeps at least 1 container: new replicas are cloned from it",
                field="replicas",
            )
        if replicas > MAX_DOCKER_REPLICAS:
            raise InvalidRequest(
                f"replicas must be at most {MAX_DOCKER_REPLICAS} on a docker backend",
                field="replicas",
            )
        name, found = await self._find(service)
        current = len(found.containers)
        if replicas > current:
            await self._grow(name, found, replicas - current)
        elif replicas < current:
            await self._shrink(name, found.containers[replicas:])
        return await self.get_service(service=name)

    async def _grow(self, service: str, found: Group, count: int) -> None:
        """Clone the newest replica ``count`` times; on any failure remove every clone."""
        original = await self._client.get(f"/containers/{found.newest.id}/json")
        image = await self._image_of(original)
        compose = found.project is not None
        base = f"{found.project}-{found.service}" if compose else found.service
        first = max(*(c.number for c in found.containers), len(found.containers)) + 1
        created: list[str] = []
        results = await asyncio.gather(
            *(
                self._limited(
                    self._add_replica(
                        original,
                        name=f"{base}-{number}",
                        number=number,
                        number_label=COMPOSE_NUMBER if compose else REPLICA_LABEL,
                        image=image,
                        created=created,
                    )
                )
                for number in range(first, first + count)
            ),
            return_exceptions=True,
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if not failures:
            return
        await self._discard(created)
        failure = failures[0]
        if isinstance(failure, BackendUnavailable):
            raise failure
        if isinstance(failure, EngineError):
            raise BackendError(
                f"cannot add a replica to {service}: {failure.engine_text}"
            ) from failure
        raise failure

    async def _add_replica(
        self,
        original: JSON,
        *,
        name: str,
        number: int,
        number_label: str,
        image: str,
        created: list[str],
    ) -> None:
        plan = plan_replica(
            original, name=name, image=image, number_label=number_label, number=number
        )
        try:
            answer = await self._client.request(
                "POST", "/containers/create", params={"name": plan.name}, json=plan.body
            )
        except EngineConflict as exc:
            if "already in use" not in exc.engine_text:
                raise
            # a container that is not a replica holds the name: take another
            answer = await self._client.request(
                "POST",
                "/containers/create",
                params={"name": f"{plan.name}-{secrets.token_hex(3)}"},
                json=plan.body,
            )
        container = answer.json()["Id"]
        created.append(container)
        for network, endpoint in plan.more_networks.items():
            await self._client.request(
                "POST",
                f"/networks/{network}/connect",
                json={"Container": container, "EndpointConfig": endpoint},
            )
        await self._client.request("POST", f"/containers/{container}/start")

    async def _image_of(self, original: JSON) -> str:
        """The image by the name it was run with, if that name still means the same
        image; else by id, so clones run exactly what the original runs."""
        image_id = str(original.get("Image") or "")
        named = str((original.get("Config") or {}).get("Image") or "")
        if not named or not image_id or named == image_id:
            return named or image_id
        try:
            info = await self._client.get(f"/images/{named}/json")
        except EngineNotFound:
            return image_id
        return named if info.get("Id") == image_id else image_id

    async def _discard(self, containers: Iterable[str]) -> None:
        for container in containers:
            try:
                await self._client.request(
                    "DELETE", f"/containers/{container}", params={"force": "1", "v": "1"}
                )
            except EngineNotFound:
                continue
            except BackendError as exc:
                log.error("cannot remove half-made replica %s: %s", container[:12], exc.message)

    async def _shrink(self, service: str, victims: list[Container]) -> None:
        """Stop the given replicas, newest first, each with its grace, then remove them."""
        results = await asyncio.gather(
            *(self._limited(self._retire(c)) for c in reversed(victims)), return_exceptions=True
        )
        for result in results:
            if isinstance(result, EngineError):
                raise BackendError(
                    f"cannot remove a replica of {service}: {result.engine_text}"
                ) from result
            if isinstance(result, BaseException):
                raise result

    async def _retire(self, container: Container) -> None:
        grace = self._settings.stop_grace
        if grace is None:
            record = await self._inspect(container.id)
            if record is None:
                return
            grace = (record.get("Config") or {}).get("StopTimeout") or DEFAULT_STOP_GRACE
        seconds = max(0, round(grace))
        try:
            await self._client.request(
                "POST",
                f"/containers/{container.id}/stop",
                params={"t": seconds},
                wait=self._client.timeout + seconds,
            )
            await self._client.request(
                "DELETE", f"/containers/{container.id}", params={"force": "1", "v": "1"}
            )
        except EngineNotFound:
            return

    async def _limited(self, work: Awaitable[T]) -> T:
        async with self._limit:
            return await work


def _replica(container: Container, record: JSON | None, *, service: str) -> Replica:
    state = container.state
    if container.running and container.health is not None:
        state = "running" if container.health == "healthy" else container.health
    if record is None:
        return Replica(id=container.name, service=service, state="gone", ready=False)
    status = record.get("State") or {}
    started = status.get("StartedAt") or ""
    return Replica(
        id=container.name,
        service=service,
        state=state,
        ready=container.ready,
        address=_address(container, record),
        pid=status.get("Pid") or None,
        started_at=None if started.startswith("0001-") or not started else _time(started),
        image=container.image,
        restarts=int(record.get("RestartCount") or 0),
    )


def _address(container: Container, record: JSON) -> str | None:
    if not container.addresses:
        return None
    exposed = sorted((record.get("Config") or {}).get("ExposedPorts") or {})
    tcp = [p.partition("/")[0] for p in exposed if p.endswith("/tcp")]
    return f"{container.addresses[0]}:{tcp[0]}" if tcp else container.addresses[0]


def _time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
