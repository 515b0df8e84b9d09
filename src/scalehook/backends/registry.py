"""The set of backends one scalehook runs, and how a service ref finds its backend.

A ref is ``<backend>/<service>``, or a bare ``<service>`` where only one backend has a
service of that name. ``hooks`` are the replica hooks every backend of the set runs
(``hooks.py``): what others register to hear of stops and changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from scalehook.backends.base import Backend, ServiceState
from scalehook.backends.hooks import ReplicaHooks
from scalehook.domain.selectors import Selector
from scalehook.errors import (
    BackendError,
    BackendRefused,
    BackendUnavailable,
    BackendUnsupported,
    InvalidRequest,
    ScalehookError,
    ServiceNotFound,
)


class Backends:
    def __init__(self, backends: list[Backend], *, hooks: ReplicaHooks | None = None) -> None:
        self.hooks = hooks or ReplicaHooks()
        self._by_name: dict[str, Backend] = {}
        for backend in backends:
            if backend.name in self._by_name:
                raise InvalidRequest(f"two backends are named {backend.name!r}", field="backends")
            self._by_name[backend.name] = backend

    def __iter__(self) -> Iterator[Backend]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def get(self, name: str) -> Backend:
        try:
            return self._by_name[name]
        except KeyError:  # from None: the KeyError only repeats the name this message gives
            raise ServiceNotFound(f"no backend named {name!r}") from None

    async def start(self) -> None:
        for backend in self._by_name.values():
            await backend.start()

    async def close(self) -> None:
        await asyncio.gather(*(b.close() for b in self._by_name.values()), return_exceptions=True)

    async def resolve(self, ref: str) -> tuple[Backend, str]:
        """Find the backend of a service ref and the service's own name there.

        Raises ``ServiceNotFound`` if no backend has it. A backend that cannot be
        reached, or cannot serve as configured (not a Swarm manager), is passed over
        when another has the service, and its error is raised when none does: the
        service may be there.
        """
        backend_name, sep, service = ref.partition("/")
        if sep:
            backend = self.get(backend_name)
            state = await backend.get_service(service=service)
            return backend, state.name
        if len(self._by_name) == 1:
            backend = next(iter(self._by_name.values()))
            state = await backend.get_service(service=ref)
            return backend, state.name
        found: list[tuple[Backend, str]] = []
        unreachable: list[BackendUnavailable | BackendUnsupported] = []
        for backend in self._by_name.values():
            try:
                state = await backend.get_service(service=ref)
            except ServiceNotFound:
                continue
            except (BackendUnavailable, BackendUnsupported) as exc:
                unreachable.append(exc)
                continue
            found.append((backend, state.name))
        if not found and unreachable:  # one that may come back first: a retry may find it
            raise min(unreachable, key=lambda e: not isinstance(e, BackendUnavailable))
        if not found:
            raise ServiceNotFound(f"no service named {ref!r}")
        if len(found) > 1:
            names = ", ".join(f"{b.name}/{ref}" for b, _ in found)
            raise InvalidRequest(f"service {ref!r} is ambiguous: say one of {names}")
        return found[0]

    async def list_services(self, *, selector: Selector | None = None) -> list[ServiceState]:
        """Every backend's services; a backend that fails is skipped, not fatal."""
        services, _failed = await self.read_services(selector=selector)
        return services

    async def read_services(
        self, *, selector: Selector | None = None
    ) -> tuple[list[ServiceState], dict[str, ScalehookError]]:
        """Every backend's services, and the error of each backend that could not be read
        (by name): a caller must not show a list it could only read in part as whole."""
        names = list(self._by_name)
        results = await asyncio.gather(
            *(self._by_name[n].list_services(selector=selector) for n in names),
            return_exceptions=True,
        )
        services: list[ServiceState] = []
        failed: dict[str, ScalehookError] = {}
        for name, result in zip(names, results, strict=True):
            if isinstance(result, ScalehookError):
                failed[name] = result
                continue
            if isinstance(result, BaseException):
                raise result
            services.extend(result)
        return services, failed


def none_read(failed: dict[str, ScalehookError]) -> ScalehookError:
    """The error to answer when no backend could be read: the one backend's own, or for
    several one of the most retryable kind among theirs, naming each with its reason."""
    if len(failed) == 1:
        return next(iter(failed.values()))
    errors = list(failed.values())
    kind: type[BackendError]
    if any(isinstance(e, BackendUnavailable) for e in errors):
        kind = BackendUnavailable
    elif all(isinstance(e, BackendUnsupported) for e in errors):
        kind = BackendUnsupported
    elif all(isinstance(e, BackendRefused) for e in errors):
        kind = BackendRefused
    else:
        kind = BackendError
    reasons = "; ".join(f"{name}: {error.message}" for name, error in failed.items())
    return kind(f"no backend could be read: {reasons}")
