"""The embedded local backend: replicas are child processes behind a built-in balancer.

It needs nothing but Python, which makes it the default and the engine of the demo.
An "image" here is ``<repository>:<version>`` (the repository is the service's
``image`` in ``scalehook.yaml``, or its name): upgrading changes the version that
replicas get as ``{tag}`` / ``$TAG``, rolled out batch by batch by ``backends.rolling``.
A recreate swaps one replica for a new one on its version (``service.py``); samples
read each replica's process and children (``samples.py``). Its balancer drains a
replica before it stops, and sends traffic only to the replicas scalehook's health
check calls healthy (``route_to``, the ``Routing`` seam). CPU and memory limits are
held by a cgroup per replica where scalehook may make one (``cgroups.py``), and the
machine holds at most ``max_replicas`` replicas of all services together (by default
from its CPUs and memory): the executor clamps a scale-up to what is left. The
balancer's counts are ``balancer_stats`` (``BalancerStats``); a service at zero replicas
is woken through the callback given to ``on_wake`` (``Wakeable``) when a connection
arrives.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Literal

from scalehook.backends.base import (
    Progress,
    Replica,
    ReplicaSample,
    ResourcesApplied,
    RolloutControl,
    ServiceConnections,
    ServiceResources,
    ServiceState,
    UpgradeResult,
    UpgradeStrategy,
    WakeCallback,
)
from scalehook.backends.hooks import ReplicaHooks
from scalehook.backends.local.cgroups import CgroupError, Cgroups, instance_name
from scalehook.backends.local.samples import ProcessSampler
from scalehook.backends.local.service import LocalService
from scalehook.backends.local.spec import LocalServiceSpec, LocalSettings, machine
from scalehook.backends.local.state import LocalState
from scalehook.backends.rolling import Replacement, rolling_upgrade
from scalehook.domain.capacity import Capacity, Node, machine_capacity
from scalehook.domain.images import ImageRef, InvalidImage, parse_image
from scalehook.domain.resources import Resources
from scalehook.domain.selectors import Selector
from scalehook.errors import BackendRefused, InvalidRequest, ScalehookError, ServiceNotFound
from scalehook.loops.clock import Clock, SystemClock

log = logging.getLogger(__name__)

__all__ = ["LocalBackend", "LocalServiceSpec"]


class LocalBackend:
    kind = "local"

    def __init__(
        self,
        name: str,
        services: dict[str, LocalServiceSpec],
        data_dir: Path,
        *,
        clock: Clock | None = None,
        hooks: ReplicaHooks | None = None,
        max_replicas: int | None = None,
        cgroups: Literal["auto", "none"] = "auto",
        cgroup_parent: str = "scalehook",
    ) -> None:
        self._name = name
        self._clock: Clock = clock or SystemClock()
        self._hooks = hooks or ReplicaHooks()
        self._specs = services
        self._data_dir = data_dir
        self._services: dict[str, LocalService] = {}
        self._state: LocalState | None = None
        self._sampler = ProcessSampler()
        self._settings = LocalSettings(
            max_replicas=max_replicas, cgroups=cgroups, cgroup_parent=cgroup_parent
        )
        self._cgroups = Cgroups.none("not started")
        self._waker: WakeCallback | None = None

    @property
    def name(self) -> str:
        return self._name

    async def start(self) -> None:
        state = LocalState.load(self._data_dir / f"{self._name}-state.json")
        self._state = state
        stopped = await state.stop_orphans()
        if stopped:
            log.warning("stopped %d replica(s) left running by an earlier run", len(stopped))
        state.forget_services(set(self._specs))
        self._cgroups = self._open_cgroups()
        self._cgroups.sweep(keep=self._specs)
        for name, spec in self._specs.items():
            desired = state.desired(name)
            version, image = spec.version, spec.image_of(spec.version)
            kept = state.image(name, declared=image)
            kept_version = None if kept is None else _version(kept)
            if kept is not None and kept_version is not None:
                version, image = kept_version, kept
            service = LocalService(
                spec,
                backend=self._name,
                desired=spec.replicas if desired is None else desired,
                log_dir=self._data_dir / "logs",
                on_process=state.set_process,
                version=version,
                image=image,
                hooks=self._hooks,
                cgroups=self._cgroups,
                resources=state.resources(name),
                clock=self._clock,
            )
            self._set_waker(service)
            try:
                await service.start()
            except OSError as exc:
                await self.close()
                raise ScalehookError(
                    f"service {name!r}: cannot listen on {spec.host}:{spec.port}: "
                    f"{exc.strerror or exc}"
                ) from exc
            self._services[name] = service
        await state.flush()

    def _open_cgroups(self) -> Cgroups:
        if self._settings.cgroups == "none":
            return Cgroups.none("cgroups: none in scalehook.yaml")
        found = Cgroups.open(
            instance=instance_name(self._name, self._data_dir),
            parent=self._settings.cgroup_parent,
        )
        if found.enforced:
            log.info("backend %s: replicas' limits held by %s", self._name, found.reason)
        else:
            log.warning(
                "backend %s: CPU and memory limits will not be enforced: %s",
                self._name,
                found.reason,
            )
        return found

    async def close(self) -> None:
        await asyncio.gather(*(s.close() for s in self._services.values()))
        self._services.clear()
        self._cgroups.close()
        if self._state is not None:
            await self._state.close()

    def _service(self, name: str) -> LocalService:
        try:
            return self._services[name]
        except KeyError:  # from None: the KeyError only repeats the name this message gives
            raise ServiceNotFound(f"no service named {name!r} on backend {self._name!r}") from None

    async def list_services(self, *, selector: Selector | None = None) -> list[ServiceState]:
        return [
            s.state()
            for s in self._services.values()
            if selector is None or selector.matches(s.spec.labels)
        ]

    async def get_service(self, *, service: str) -> ServiceState:
        return self._service(service).state()

    async def scale(self, *, service: str, replicas: int) -> None:
        """Set the count. The executor clamps a scale-up to ``capacity`` first; a count
        that passes it anyway (a caller that did not ask) is refused, not forked."""
        target = self._service(service)
        if replicas < 0:
            raise InvalidRequest("replicas cannot be negative", field="replicas")
        if replicas > target.desired:
            room = self._capacity(service)
            if replicas > max(room.limit, target.desired):
                raise InvalidRequest(
                    f"{replicas} replicas of {service} would pass capacity: {room.reason}",
                    field="replicas",
                )
        assert self._state is not None
        await self._state.set_desired(service, replicas)
        target.desired = replicas
        target.reconcile()

    async def replicas(self, *, service: str) -> list[Replica]:
        return self._service(service).replicas()

    async def recreate(self, *, service: str, replica: str) -> Replica:
        return await self._service(service).recreate(replica)

    def route_to(self, *, service: str, replicas: Collection[str] | None) -> None:
        """The ``Routing`` seam: new connections only to these replicas (None: all ready)."""
        self._service(service).routable = None if replicas is None else frozenset(replicas)

    # rolling upgrades ------------------------------------------------------------------

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
        self._image_for(self._service(service), image)
        return await rolling_upgrade(
            self,
            service=service,
            image=image,
            previous=previous,
            strategy=strategy,
            progress=progress,
            clock=self._clock,
            control=control,
        )

    async def members(self, *, service: str) -> list[Replica]:
        return self._service(service).members()

    async def set_image(self, *, service: str, image: str) -> None:
        target = self._service(service)
        ref = self._image_for(target, image)
        assert ref.tag is not None
        assert self._state is not None
        shown = ref.familiar()
        await self._state.set_image(
            service, shown, declared=target.spec.image_of(target.spec.version)
        )
        target.version, target.image = ref.tag, shown

    async def replace_replicas(
        self,
        *,
        service: str,
        replicas: Sequence[str],
        image: str,
        start_first: bool,
        ready_timeout: float,
    ) -> Replacement:
        target = self._service(service)
        ref = self._image_for(target, image)
        assert ref.tag is not None
        return await target.replace(
            replicas,
            version=ref.tag,
            image=ref.familiar(),
            start_first=start_first,
            ready_timeout=ready_timeout,
        )

    @staticmethod
    def _image_for(target: LocalService, image: str) -> ImageRef:
        """``image`` read as a version of this service, or ``InvalidRequest``."""
        repository = target.spec.repository()
        try:
            ref = parse_image(image)
        except InvalidImage as exc:
            raise InvalidRequest(str(exc), field="image") from exc
        if repository is None or not ref.same_repository(repository) or ref.tag is None:
            expected = repository.familiar() if repository else target.spec.name
            raise InvalidRequest(
                f"service {target.spec.name!r} runs versions of {expected}; "
                f"{image!r} is not one (a local image is <repository>:<version>)",
                field="image",
            )
        return ref

    async def samples(self, *, service: str) -> list[ReplicaSample]:
        target = self._service(service)
        held = target.resources if self._cgroups.enforced else Resources()
        return self._sampler.samples(service, target.processes(), limits=held)

    # resources and capacity ----------------------------------------------------------

    async def resources(self, *, service: str) -> ServiceResources:
        target = self._service(service)
        if self._cgroups.enforced:
            return ServiceResources(target.resources, enforced=self._cgroups.mode)
        return ServiceResources(
            target.resources, enforced="none", note=f"not enforced: {self._cgroups.reason}"
        )

    async def set_resources(
        self, *, service: str, cpus: float | None, memory: int | None
    ) -> ResourcesApplied:
        """Write the limits to every replica's cgroup (no restart), then keep them
        durably; new replicas start with them. Without cgroups they are kept and
        shown, and nothing holds the replicas to them."""
        target = self._service(service)
        cores, _ = machine()
        if cpus is not None and cpus > cores:
            raise InvalidRequest(
                f"cpus {cpus:g}: this machine has {cores} CPU(s) scalehook may use", field="cpus"
            )
        limits = Resources(cpus=cpus, memory=memory)
        try:
            replicas = target.set_resources(limits)
        except CgroupError as exc:
            raise BackendRefused(str(exc)) from exc
        assert self._state is not None
        await self._state.set_resources(service, limits)
        if not self._cgroups.enforced:
            return ResourcesApplied(
                message=f"kept, not enforced: {self._cgroups.reason}",
                enforced="none",
            )
        return ResourcesApplied(
            message=f"written to the cgroup ({self._cgroups.mode}) of {len(replicas)} "
            "replica(s), no restart",
            replicas=tuple(replicas),
            enforced=self._cgroups.mode,
        )

    def cgroups(self) -> Cgroups:
        """The replicas' cgroups (what tests and the samples read back)."""
        return self._cgroups

    def _most(self) -> tuple[int, str]:
        return self._settings.most_replicas()

    def _capacity(self, service: str) -> Capacity:
        most, source = self._most()
        others = sum(s.desired for name, s in self._services.items() if name != service)
        return machine_capacity(
            most=most, others=others, where="this machine", source=source, service=service
        )

    async def capacity(self, *, service: str) -> Capacity | None:
        self._service(service)
        return self._capacity(service)

    async def nodes(self) -> list[Node]:
        cpus, memory = machine()
        most, source = self._most()
        counts = {
            name: sum(1 for r in s.processes() if r.running)
            for name, s in sorted(self._services.items())
        }
        return [
            Node(
                backend=self._name,
                kind=self.kind,
                id=socket.gethostname(),
                name=socket.gethostname(),
                cpus=float(cpus),
                memory=memory,
                replicas=sum(counts.values()),
                max_replicas=most,
                bound="setting" if self._settings.max_replicas is not None else "default",
                services=counts,
                note=source,
            )
        ]

    # policies' seams -------------------------------------------------------------------

    async def balancer_stats(self, *, service: str) -> ServiceConnections:
        return self._service(service).connections()

    def on_wake(self, callback: WakeCallback | None) -> None:
        self._waker = callback
        for service in self._services.values():
            self._set_waker(service)

    def _set_waker(self, service: LocalService) -> None:
        callback, name = self._waker, service.spec.name
        service.waker = None if callback is None else (lambda: callback(name))


def _version(image: str) -> str | None:
    try:
        return parse_image(image).tag
    except InvalidImage:
        log.error("ignoring unreadable image %r in the local state", image)
        return None
