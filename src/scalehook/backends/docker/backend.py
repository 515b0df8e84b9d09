"""The ``docker`` backend: services on one plain Docker engine, scaled by cloning and
upgraded batch by batch.

Plain Docker has no replica count to set, so the containers that exist are the
desired count: scale-up clones the newest replica (``clone.py``), scale-down stops
the newest ones gracefully and removes them. A scale-up that fails half-way removes
what it created, so a service is never left between two counts by a failure.

Nor does it have a service spec, so the containers say what the service runs: its
image is its oldest member's (``groups.py``), which a rollout replaces first. Rolling
upgrades are scalehook's own (``backends.rolling``); a batch is ``replace.py``.

A recreate is a batch of one on the replica's own image, start-first (the clone is
started and must be ready before the old one is stopped, so the service never has
fewer ready replicas for it), or stop-first when the replica publishes a fixed host
port, which its clone could not bind while it runs. It carries the same
``scalehook.replaces`` label, so one cut short by a killed scalehook is undone the way a
rollout batch is. Batches and recreates of one service take turns.

Samples (``samples.py``) cost one container listing per service and one quick stats
call per container.

Every container scalehook stops (scale-down, a batch, a recreate) is first announced to
the replica hooks (a load balancer drains it), for at most its stop grace.

Limits change in place (``resources.py``: a container update, no restart) on every
container of the service; clones copy them. The engine holds at most ``max_replicas``
containers of all its services together (by default from its ``/info``: 16 per CPU, at
most one per 128 MiB), and the executor clamps a scale-up to what is left.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Sequence
from typing import Literal, TypeVar

from pydantic import Field

from scalehook.backends.base import (
    Progress,
    Replica,
    ReplicaSample,
    ResourcesApplied,
    RolloutControl,
    RolloutEvent,
    ServiceResources,
    ServiceState,
    UpgradeResult,
    UpgradeStrategy,
)
from scalehook.backends.docker.clone import ReplicaPlan, fixed_ports, plan_replica
from scalehook.backends.docker.containers import Containers
from scalehook.backends.docker.groups import (
    COMPOSE_SERVICE,
    SERVICE_LABEL,
    Container,
    Group,
    find,
    group,
    names,
)
from scalehook.backends.docker.pull import runnable
from scalehook.backends.docker.replace import Batch, undo
from scalehook.backends.docker.resources import limits_of, restore_body, update_body
from scalehook.backends.docker.samples import Sampler
from scalehook.backends.engine import (
    JSON,
    EngineClient,
    EngineError,
    EngineNotFound,
    EngineSettings,
    resolve_address,
)
from scalehook.backends.engine.boundary import engine_boundary
from scalehook.backends.engine.readiness import health_window
from scalehook.backends.engine.registry_auth import RegistryAuth
from scalehook.backends.engine.stats import engine_time
from scalehook.backends.hooks import ReplicaHooks
from scalehook.backends.rolling import IMAGE_LABEL, Replacement, rolling_upgrade, same_image, show
from scalehook.domain.capacity import (
    Capacity,
    Node,
    default_max_replicas,
    describe_default,
    machine_capacity,
)
from scalehook.domain.durations import Duration
from scalehook.domain.images import ImageRef, InvalidImage, parse_image
from scalehook.domain.resources import Resources
from scalehook.domain.selectors import Selector
from scalehook.errors import (
    BackendError,
    BackendUnavailable,
    InvalidRequest,
    ReplicaNotFound,
)
from scalehook.locks import KeyedLocks
from scalehook.loops.clock import Clock, SystemClock

log = logging.getLogger(__name__)

MAX_DOCKER_REPLICAS = 256
_PARALLEL = 4  # containers created or stopped at once: enough to overlap, kind to the engine

T = TypeVar("T")


class DockerSettings(EngineSettings):
    """A plain Docker engine (``docker run``, ``docker compose up``)."""

    type: Literal["docker"] = "docker"
    stop_grace: Duration | None = Field(
        default=None,
        description="SIGKILL this long after the stop signal; default: the container's own",
    )
    max_replicas: int | None = Field(
        default=None,
        ge=1,
        description="the most containers of all its services together; a scale past it is "
        "clamped. Default: from the engine's /info, 16 per CPU, at most one per 128 MiB",
    )


@engine_boundary
class DockerBackend:
    kind = "docker"

    def __init__(
        self,
        name: str,
        settings: DockerSettings,
        *,
        registry_auth: RegistryAuth | None = None,
        clock: Clock | None = None,
        hooks: ReplicaHooks | None = None,
    ) -> None:
        self._name = name
        self._clock: Clock = clock or SystemClock()
        self._hooks = hooks or ReplicaHooks()
        self._settings = settings
        self._auth = registry_auth or RegistryAuth()
        self._client = EngineClient(
            resolve_address(settings.docker_host, settings.docker_tls), timeout=settings.timeout
        )
        self._ops = Containers(self._client, stop_grace=settings.stop_grace)
        self._limit = asyncio.Semaphore(_PARALLEL)
        # While a rollout moves a service's members: the image the service runs (what a
        # scale-up starts), and how the images its members ran before were created.
        self._images: dict[str, str] = {}
        self._sources: dict[str, dict[ImageRef, str]] = {}
        # The name a container was run with never changes: inspect each one at most once.
        self._run_as: dict[str, str] = {}
        # Rollout batches and recreates of one service take turns (both make surge).
        self._turns = KeyedLocks()
        self._sampler = Sampler(self._client, self._ops)

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
        await self._name_images(list(rows.values()))
        return group(Container.of(row) for row in rows.values())

    async def _name_images(self, rows: list[JSON]) -> None:
        """The engine lists a container by its image's id once the name it was run with
        means another image (a rebuild, a pull): put back the name, which is what a push
        is compared with."""
        renamed = [
            r
            for r in rows
            if str(r.get("Image") or "").startswith("sha256:")
            and IMAGE_LABEL not in (r.get("Labels") or {})
        ]
        unknown = [r for r in renamed if r["Id"] not in self._run_as]
        records = await asyncio.gather(*(self._ops.inspect(r["Id"]) for r in unknown))
        for row, record in zip(unknown, records, strict=True):
            named = ((record or {}).get("Config") or {}).get("Image")
            if named:
                self._run_as[row["Id"]] = named
        listed = {r["Id"] for r in rows}
        for gone in [c for c in self._run_as if c not in listed]:
            del self._run_as[gone]
        for row in renamed:
            if row["Id"] in self._run_as:
                row["Image"] = self._run_as[row["Id"]]

    async def _find(self, service: str) -> tuple[str, Group]:
        return find(await self._groups(), service, backend=self._name)

    def _state(self, name: str, found: Group) -> ServiceState:
        return found.state(name=name, backend=self._name, image=self._images.get(name))

    async def list_services(self, *, selector: Selector | None = None) -> list[ServiceState]:
        states = [self._state(n, g) for n, g in names(await self._groups()).items()]
        return sorted(
            (s for s in states if selector is None or selector.matches(s.labels)),
            key=lambda s: s.name,
        )

    async def get_service(self, *, service: str) -> ServiceState:
        return self._state(*await self._find(service))

    async def replicas(self, *, service: str) -> list[Replica]:
        name, found = await self._find(service)
        records = await asyncio.gather(*(self._ops.inspect(c.id) for c in found.containers))
        return [
            _replica(container, record, service=name)
            for container, record in zip(found.containers, records, strict=True)
        ]

    async def samples(self, *, service: str) -> list[ReplicaSample]:
        return await self._sampler.samples(service, find=self._find)

    # resources and capacity ------------------------------------------------------

    async def resources(self, *, service: str) -> ServiceResources:
        _name, found = await self._find(service)
        record = await self._ops.inspect(found.newest.id)
        limits = limits_of((record or {}).get("HostConfig") or {})
        return ServiceResources(limits, enforced="engine")

    async def set_resources(
        self, *, service: str, cpus: float | None, memory: int | None
    ) -> ResourcesApplied:
        """A container update of every container of the service, no restart; all or
        nothing (those done are put back when the engine refuses one)."""
        name, _ = await self._find(service)
        info = await self._client.get("/info")
        engine_cpus = int(info.get("NCPU") or 0) or 1
        if cpus is not None and cpus > engine_cpus:
            raise InvalidRequest(
                f"cpus {cpus:g}: the engine has {engine_cpus} CPU(s)", field="cpus"
            )
        target = Resources(cpus=cpus, memory=memory)
        async with self._turns.hold(name):  # not while a batch or a recreate makes clones
            name, found = await self._find(name)
            records = await asyncio.gather(*(self._ops.inspect(c.id) for c in found.containers))
            done: list[tuple[Container, JSON]] = []
            try:
                for container, record in zip(found.containers, records, strict=True):
                    if record is None:
                        continue  # gone meanwhile
                    host = record.get("HostConfig") or {}
                    body = update_body(host, target, engine_cpus=engine_cpus)
                    if body:
                        await self._update(container, body)
                        done.append((container, host))
            except EngineError as exc:
                await self._restore(done)
                raise exc.reworded(
                    f"cannot set the limits of {name}: {exc.engine_text}; nothing was changed"
                ) from exc
            except BaseException:
                await self._restore(done)
                raise
            self._sampler.forget()
        changed = [c.name for c, _ in done]
        return ResourcesApplied(
            message=f"updated {len(changed)} of {len(found.containers)} container(s) in place, "
            "no restart",
            replicas=tuple(changed),
        )

    async def _update(self, container: Container, body: JSON) -> None:
        try:
            await self._client.request("POST", f"/containers/{container.id}/update", json=body)
        except EngineNotFound:
            return  # removed meanwhile: nothing to hold to a limit

    async def _restore(self, done: list[tuple[Container, JSON]]) -> None:
        for container, host in done:
            try:
                await self._update(container, restore_body(host))
            except BackendError as exc:
                log.error("%s: cannot put its limits back: %s", container.name, exc.message)

    async def _most(self) -> tuple[int, str, JSON]:
        info = await self._client.get("/info")
        if self._settings.max_replicas is not None:
            return self._settings.max_replicas, "max_replicas, as set", info
        cpus, memory = int(info.get("NCPU") or 0) or 1, int(info.get("MemTotal") or 0)
        return default_max_replicas(cpus, memory), describe_default(cpus, memory), info

    async def capacity(self, *, service: str) -> Capacity | None:
        listed = names(await self._groups())
        name, _ = find(listed.values(), service, backend=self._name)
        most, source, info = await self._most()
        others = sum(len(g.members) for key, g in listed.items() if key != name)
        where = f"the engine {info.get('Name') or self._client.address.display}"
        return machine_capacity(most=most, others=others, where=where, source=source, service=name)

    async def nodes(self) -> list[Node]:
        listed = names(await self._groups())
        most, source, info = await self._most()
        counts = {key: len(g.members) for key, g in sorted(listed.items())}
        return [
            Node(
                backend=self._name,
                kind=self.kind,
                id=str(info.get("ID") or self._client.address.display),
                name=str(info.get("Name") or self._client.address.display),
                cpus=float(int(info.get("NCPU") or 0)) or None,
                memory=int(info.get("MemTotal") or 0) or None,
                replicas=sum(counts.values()),
                max_replicas=most,
                bound="setting" if self._settings.max_replicas is not None else "default",
                services=counts,
                note=source,
            )
        ]

    # scaling ---------------------------------------------------------------------

    async def scale(self, *, service: str, replicas: int) -> None:
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
        current = len(found.members)
        try:
            if replicas > current:
                await self._grow(name, found, replicas - current)
            elif replicas < current:
                await self._shrink(name, found.members[replicas:])
        finally:
            self._hooks.changed(f"{self._name}/{name}")

    async def _grow(self, service: str, found: Group, count: int) -> None:
        """Clone a member ``count`` times (the newest that runs the service's image); on
        any failure remove every clone."""
        wanted = self._images.get(service) or found.image
        source = next(
            (c for c in reversed(found.members) if same_image(c.image, wanted)), found.newest
        )
        original = await self._client.get(f"/containers/{source.id}/json")
        labels: dict[str, str] = {}
        old_image = None
        if same_image(source.image, wanted):
            image = await self._image_of(original)
        else:  # a rollout set the service's image and no member runs it yet
            image = await self._runnable(service, found, wanted)
            labels[IMAGE_LABEL] = show(wanted)
            old_image = await self._ops.image_config(str(original["Image"]))
        first = found.next_number
        plans = [
            plan_replica(
                original,
                name=f"{found.base_name}-{number}",
                image=image,
                number_label=found.number_label,
                number=number,
                labels=labels,
                old_image=old_image,
            )
            for number in range(first, first + count)
        ]
        created: list[str] = []

        async def add(plan: ReplicaPlan) -> None:
            container, _ = await self._ops.create(plan)
            created.append(container)
            await self._ops.start(container)

        results = await asyncio.gather(
            *(self._limited(add(plan)) for plan in plans), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if not failures:
            return
        await self._ops.discard(created)
        failure = failures[0]
        if isinstance(failure, BackendUnavailable):
            raise failure
        if isinstance(failure, EngineError):
            raise failure.reworded(
                f"cannot add a replica to {service}: {failure.engine_text}"
            ) from failure
        raise failure

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

    async def _shrink(self, service: str, victims: list[Container]) -> None:
        """Stop the given replicas, newest first, each with its grace (announced to the
        hooks first), then remove them."""

        async def retire(container: Container) -> None:
            await self._before_stop(service, container)
            await self._limited(self._ops.retire(container.id))

        results = await asyncio.gather(
            *(retire(c) for c in reversed(victims)), return_exceptions=True
        )
        for result in results:
            if isinstance(result, EngineError):
                raise result.reworded(
                    f"cannot remove a replica of {service}: {result.engine_text}"
                ) from result
            if isinstance(result, BaseException):
                raise result

    async def _limited(self, work: Awaitable[T]) -> T:
        async with self._limit:
            return await work

    async def _before_stop(self, service: str, container: Container) -> None:
        """Announce that ``container`` is about to be stopped; wait for the hooks, at most
        the container's stop grace."""
        if not self._hooks.listening:
            return
        grace = await self._ops.grace(container.id)
        replica = _member(container, service=service)
        await self._hooks.before_stop(f"{self._name}/{service}", replica, grace=grace)

    # rolling upgrades ------------------------------------------------------------

    async def upgrade(
        self,
        *,
        service: str,
        image: str,
        previous: str | None,
        strategy: UpgradeStrategy,
        progress: Progress,
        control: RolloutControl | None = None,
    ) -> UpgradeResult:
        """Batch by batch with ``backends.rolling``. Before the first batch: a batch that
        a stopped scalehook left unfinished is undone, start-first is refused for a
        service publishing a fixed host port (its replacement could not bind it), and
        the image is pulled if the engine needs it; none of these touches a replica."""
        name, found = await self._find(service)
        target = _parse(image)
        async with self._turns.hold(name):
            for text in await undo(
                self._ops, self._client, lambda new, _: new in {c.id for c in found.containers}
            ):
                await progress(RolloutEvent("rolling", f"left by an earlier run: {text}"))
        name, found = await self._find(name)
        if strategy.start_first:
            await self._refuse_fixed_ports(name, found)
        self._images[name] = previous or image
        self._sources[name] = await self._sources_of(found)
        try:
            await self._runnable(name, found, image, ref=target)
            return await rolling_upgrade(
                self,
                service=name,
                image=image,
                previous=previous,
                strategy=strategy,
                progress=progress,
                clock=self._clock,
                control=control,
            )
        finally:
            self._images.pop(name, None)
            self._sources.pop(name, None)

    async def members(self, *, service: str) -> list[Replica]:
        name, found = await self._find(service)
        return [_member(c, service=name) for c in found.members]

    async def set_image(self, *, service: str, image: str) -> None:
        """Kept in memory, and needed only while members are moved: once they all run
        an image, their oldest member says it; a rollout that a restart cut short is
        resumed with its own record."""
        _parse(image)
        name, _ = await self._find(service)
        self._images[name] = image

    async def replace_replicas(
        self,
        *,
        service: str,
        replicas: Sequence[str],
        image: str,
        start_first: bool,
        ready_timeout: float,
    ) -> Replacement:
        name, _ = await self._find(service)
        async with self._turns.hold(name):
            name, found = await self._find(name)  # as it is now that it is our turn
            by_name = {c.name: c for c in found.members}
            old = [by_name[r] for r in replicas if r in by_name]
            if not old:
                return Replacement(started=(), stopped=(), ready=True)
            batch = self._batch(name)
            try:
                return await batch.replace(
                    found,
                    old,
                    image=image,
                    runnable=await self._runnable(name, found, image),
                    start_first=start_first,
                    ready_timeout=ready_timeout,
                )
            finally:
                self._hooks.changed(f"{self._name}/{name}")

    def _batch(self, service: str) -> Batch:
        async def before_stop(container: Container) -> None:
            await self._before_stop(service, container)

        return Batch(self._ops, self._client, self._limited, before_stop=before_stop)

    # recreating ------------------------------------------------------------------

    async def recreate(self, *, service: str, replica: str) -> Replica:
        """A batch of one on the replica's own image; see the module docstring. Start-first
        waits for the clone to be ready (its HEALTHCHECK's own time to decide): if it is
        not, the clone is removed, the old replica kept, and ``BackendError`` says why."""
        name, _ = await self._find(service)
        async with self._turns.hold(name):
            name, found = await self._find(name)
            ids = {c.id for c in found.containers}
            for text in await undo(self._ops, self._client, lambda new, _: new in ids):
                log.warning("%s: left by an earlier run: %s", name, text)
            name, found = await self._find(name)
            old = next((c for c in found.members if c.name == replica), None)
            record = None if old is None else await self._ops.inspect(old.id)
            if old is None or record is None:
                raise ReplicaNotFound(
                    f"{self._name}/{name} has no replica {replica!r}: "
                    f"its replicas are {', '.join(c.name for c in found.members)}"
                )
            ports = fixed_ports((record.get("HostConfig") or {}).get("PortBindings"))
            batch = self._batch(name)
            result = await batch.replace(
                found,
                [old],
                image=old.image,
                runnable=await self._image_of(record),
                start_first=not ports,
                ready_timeout=health_window(record),
            )
        self._hooks.changed(f"{self._name}/{name}")
        if not result.started:  # it went away meanwhile
            raise ReplicaNotFound(f"{self._name}/{name}: {replica} went away")
        if not result.ready and not ports:
            raise BackendError(f"cannot recreate {replica}: {result.reason}; {replica} is kept")
        if result.reason:
            log.warning("%s: recreated %s: %s", name, replica, result.reason)
        return await self._replica_named(name, result.started[0])

    async def _replica_named(self, service: str, replica: str) -> Replica:
        name, found = await self._find(service)
        container = next((c for c in found.containers if c.name == replica), None)
        if container is None:
            raise ReplicaNotFound(f"{self._name}/{name}: {replica} went away")
        return _replica(container, await self._ops.inspect(container.id), service=name)

    async def _runnable(
        self, service: str, found: Group, image: str, *, ref: ImageRef | None = None
    ) -> str:
        """What to create containers of ``image`` with: exactly what a member running it
        runs (by name, or by id if the name has moved on: a rollback to a rebuilt tag
        gets the old build), else what ran it when the rollout began, else the image
        the engine has or pulls."""
        ref = ref or _parse(image)
        for container in reversed(found.members):
            if same_image(container.image, image):
                record = await self._ops.inspect(container.id)
                if record is not None:
                    return await self._image_of(record)
        known = self._sources.get(service, {}).get(ref)
        if known is not None:
            return known
        return await runnable(self._client, ref, self._auth)

    async def _sources_of(self, found: Group) -> dict[ImageRef, str]:
        sources: dict[ImageRef, str] = {}
        for container in found.members:
            try:
                ref = parse_image(container.image)
            except InvalidImage:
                continue
            if ref not in sources:
                record = await self._ops.inspect(container.id)
                if record is not None:
                    sources[ref] = await self._image_of(record)
        return sources

    async def _refuse_fixed_ports(self, name: str, found: Group) -> None:
        records = await asyncio.gather(*(self._ops.inspect(c.id) for c in found.members))
        for container, record in zip(found.members, records, strict=True):
            ports = fixed_ports(((record or {}).get("HostConfig") or {}).get("PortBindings"))
            if ports:
                raise InvalidRequest(
                    f"{name} cannot be upgraded start-first: {container.name} publishes "
                    f"{', '.join(ports)}, which its replacement cannot bind while it runs; "
                    "use start_first: false"
                )


def _parse(image: str) -> ImageRef:
    try:
        return parse_image(image)
    except InvalidImage as exc:
        raise InvalidRequest(str(exc), field="image") from exc


def _member(container: Container, *, service: str) -> Replica:
    return Replica(
        id=container.name,
        service=service,
        state=container.state,
        ready=container.ready,
        image=container.image,
    )


def _replica(container: Container, record: JSON | None, *, service: str) -> Replica:
    state = container.state
    if container.running and container.health is not None:
        state = "running" if container.health == "healthy" else container.health
    if record is None:
        return Replica(id=container.name, service=service, state="gone", ready=False)
    status = record.get("State") or {}
    started = status.get("StartedAt") or ""
    port = _port(record)
    settings = record.get("NetworkSettings") or {}
    networks = {
        name: str(network["IPAddress"])
        for name, network in (settings.get("Networks") or {}).items()
        if (network or {}).get("IPAddress")
    }
    health = status.get("Health") or {}
    return Replica(
        id=container.name,
        service=service,
        state=state,
        ready=container.ready,
        address=_address(container, port),
        pid=status.get("Pid") or None,
        started_at=engine_time(started),
        image=container.image,
        restarts=int(record.get("RestartCount") or 0),
        port=port,
        networks=networks,
        published=_published(settings.get("Ports") or {}),
        health=str(health.get("Status")) if health.get("Status") else None,
        health_output=_last_check(health),
    )


def _port(record: JSON) -> int | None:
    """The container's first exposed TCP port (by number), if it exposes one."""
    exposed = (record.get("Config") or {}).get("ExposedPorts") or {}
    tcp = sorted(int(p.partition("/")[0]) for p in exposed if p.endswith("/tcp"))
    return tcp[0] if tcp else None


def _published(ports: JSON) -> dict[int, str]:
    """Container TCP port → the ``host_ip:host_port`` it is published on (IPv4 first)."""
    found: dict[int, str] = {}
    for key, bindings in ports.items():
        number, _, proto = str(key).partition("/")
        if proto != "tcp" or not bindings or not number.isdigit():
            continue
        ordered = sorted(bindings, key=lambda b: ":" in str(b.get("HostIp") or ""))
        first = ordered[0]
        host = str(first.get("HostIp") or "0.0.0.0")  # noqa: S104 - what the engine says
        found[int(number)] = f"{host}:{first.get('HostPort')}"
    return found


def _last_check(health: JSON) -> str | None:
    """What the container's last HEALTHCHECK run printed, with its exit code."""
    log = health.get("Log") or []
    if not log:
        return None
    output = " ".join(str(log[-1].get("Output") or "").split())[:200]
    return f"exit {log[-1].get('ExitCode')}{': ' + output if output else ''}"


def _address(container: Container, port: int | None) -> str | None:
    if not container.addresses:
        return None
    return f"{container.addresses[0]}:{port}" if port else container.addresses[0]
