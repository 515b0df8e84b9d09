"""The embedded local backend: replicas are child processes behind a built-in balancer.

It needs nothing but Python, which makes it the default and the engine of the demo.
An "image" here is ``<repository>:<version>`` (the repository is the service's
``image`` in ``scalehook.yaml``, or its name): upgrading changes the version that
replicas get as ``{tag}`` / ``$TAG``, rolled out batch by batch by ``backends.rolling``.
A recreate swaps one replica for a new one on its version (``service.py``); samples
read each replica's process and children (``samples.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

from scalehook.backends.base import (
    Progress,
    Replica,
    ReplicaSample,
    RolloutControl,
    ServiceState,
    UpgradeResult,
    UpgradeStrategy,
)
from scalehook.backends.local.samples import ProcessSampler
from scalehook.backends.local.service import LocalService
from scalehook.backends.local.spec import MAX_LOCAL_REPLICAS, LocalServiceSpec
from scalehook.backends.local.state import LocalState
from scalehook.backends.rolling import Replacement, rolling_upgrade
from scalehook.domain.images import ImageRef, InvalidImage, parse_image
from scalehook.domain.selectors import Selector
from scalehook.errors import InvalidRequest, ScalehookError, ServiceNotFound
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
    ) -> None:
        self._name = name
        self._clock: Clock = clock or SystemClock()
        self._specs = services
        self._data_dir = data_dir
        self._services: dict[str, LocalService] = {}
        self._state: LocalState | None = None
        self._sampler = ProcessSampler()

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
            )
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

    async def close(self) -> None:
        await asyncio.gather(*(s.close() for s in self._services.values()))
        self._services.clear()
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
        target = self._service(service)
        if not 0 <= replicas <= MAX_LOCAL_REPLICAS:
            raise InvalidRequest(
                f"replicas must be between 0 and {MAX_LOCAL_REPLICAS} on the local backend",
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
        return self._sampler.samples(service, self._service(service).processes())


def _version(image: str) -> str | None:
    try:
        return parse_image(image).tag
    except InvalidImage:
        log.error("ignoring unreadable image %r in the local state", image)
        return None
