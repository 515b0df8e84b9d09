"""The health checks scalehook holds (``runtime.health``): set, read and deleted through
the API, declared in ``scalehook.yaml``, and the state of every checked replica.

Where a check comes from: a local service's ``health:`` block in ``scalehook.yaml``
declares one; a check set through the API (or ``scalehook apply``) is kept in the
store and takes its place while it exists (to change a check at once, in an incident,
without a restart); deleting it brings the file's back. A check the file declares
cannot be deleted through the API (409): remove it from the file, or set
``strategy: none``.

What needs the service is checked here, answered 422 naming the field: a quorum above
the service's desired count, ``docker`` on a backend with no engine (local) or whose
containers have no HEALTHCHECK, a replica address without a port and no ``port``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from scalehook.backends import Backends
from scalehook.domain.health import ReplicaHealth
from scalehook.domain.healthchecks import HealthCheckSpec
from scalehook.errors import Conflict, HealthCheckNotFound, InvalidRequest, ServiceNotFound
from scalehook.executor import Executor
from scalehook.health.loop import HealthLoop
from scalehook.health.probes import split_address
from scalehook.health.watch import GOING, Deps, ServiceWatch
from scalehook.loops.clock import Clock
from scalehook.metrics import Metrics
from scalehook.store import Store
from scalehook.store.healthchecks import StoredHealthCheck

Source = Literal["api", "file"]


@dataclass(frozen=True, slots=True)
class CheckView:
    """A check as the API shows it, with how its service's replicas fare."""

    service: str  # the service's ref, backend/name
    source: Source
    spec: HealthCheckSpec
    declared: HealthCheckSpec | None  # the file's check, when the API's replaces it
    created_at: datetime | None
    updated_at: datetime | None
    watch: ServiceWatch | None  # None: not watched here (not leading, or just set)


class Health:
    def __init__(
        self,
        *,
        store: Store,
        backends: Backends,
        executor: Executor,
        metrics: Metrics,
        clock: Clock,
        declared: Mapping[str, HealthCheckSpec],
    ) -> None:
        self.store = store
        self.backends = backends
        self.declared = dict(declared)
        self.deps = Deps(backends=backends, executor=executor, metrics=metrics, clock=clock)
        self.loop = HealthLoop(self.deps, store, self.effective)
        self._known: dict[str, HealthCheckSpec] = dict(self.declared)

    # what the balancers read -----------------------------------------------------------

    def states(self, service: str) -> Mapping[str, str] | None:
        """Replica id → ``initializing``, ``healthy``, ``unhealthy`` or ``reinitializing``
        for a service with a health check (``backend/name``; a bare name where it is
        unique); None when it has none. A replica not checked yet is not in the map."""
        found = self.replicas(service)
        return None if found is None else {r: h.state for r, h in found.items()}

    def replicas(self, service: str) -> Mapping[str, ReplicaHealth] | None:
        """The health of each checked replica of ``service``; None without a check."""
        ref = self._known_ref(service)
        if ref is None:
            return None
        watch = self.loop.watches.get(ref)
        return {} if watch is None else dict(watch.states)

    def check_of(self, service: str) -> HealthCheckSpec | None:
        """The check in force for ``service`` as last read (None: it has none)."""
        ref = self._known_ref(service)
        return None if ref is None else self._known[ref]

    def _known_ref(self, service: str) -> str | None:
        if service in self._known:
            return service
        if "/" in service:
            return None
        matches = [ref for ref in self._known if ref.partition("/")[2] == service]
        return matches[0] if len(matches) == 1 else None

    # the checks --------------------------------------------------------------------------

    async def effective(self) -> dict[str, HealthCheckSpec]:
        """Every check in force: the store's, and the file's where the store has none."""
        stored = {c.service: c.spec for c in await self.store.healthchecks.list()}
        self._known = {**self.declared, **stored}
        return dict(self._known)

    async def list(self) -> list[CheckView]:
        stored = {c.service: c for c in await self.store.healthchecks.list()}
        self._known = {**self.declared, **{ref: c.spec for ref, c in stored.items()}}
        views = []
        for ref in sorted(self._known):
            found = stored.get(ref)
            views.append(self._view(ref, found.spec if found else None, found))
        return views

    async def get(self, service: str) -> CheckView:
        ref = await self._ref(service)
        stored = await self.store.healthchecks.get(ref)
        if stored is None and ref not in self.declared:
            raise HealthCheckNotFound(f"{ref} has no health check", field="service")
        return self._view(ref, stored.spec if stored else None, stored)

    async def put(self, service: str, spec: HealthCheckSpec) -> CheckView:
        """Set the service's check (whole), after checking it against the service."""
        try:
            backend, name = await self.backends.resolve(service)
        except ServiceNotFound as exc:
            raise ServiceNotFound(exc.message, field="service") from exc
        state = await backend.get_service(service=name)
        ref = state.ref
        if spec.docker and backend.kind == "local":
            raise InvalidRequest(
                f"docker: {ref} runs local processes, which have no HEALTHCHECK; use http or tcp",
                field="docker",
            )
        if spec.strategy == "quorum" and spec.quorum > state.desired:
            raise InvalidRequest(
                f"quorum: {spec.quorum} healthy replicas can never be had: {ref} wants "
                f"{state.desired}; a quorum is at most the service's desired count",
                field="quorum",
            )
        replicas = [r for r in await backend.replicas(service=name) if r.state not in GOING]
        if spec.docker and backend.kind == "docker":
            bare = [r.id for r in replicas if r.health is None and r.state == "running"]
            if bare and len(bare) == len(replicas):
                raise InvalidRequest(
                    f"docker: the containers of {ref} ({', '.join(bare)}) have no "
                    "HEALTHCHECK for the engine to report; use http or tcp",
                    field="docker",
                )
        if spec.probe != "docker" and spec.port is None:
            portless = [
                r.address for r in replicas if r.address and split_address(r.address)[1] is None
            ]
            if portless:
                raise InvalidRequest(
                    f"port: the replicas of {ref} have no port scalehook knows (address "
                    f"{portless[0]}); say which to check",
                    field="port",
                )
        stored = await self.store.healthchecks.put(ref, spec)
        self._known[ref] = spec
        self.loop.changed()
        return self._view(ref, spec, stored)

    async def delete(self, service: str) -> None:
        ref = await self._ref(service)
        deleted = await self.store.healthchecks.delete(ref)
        if not deleted:
            if ref in self.declared:
                raise Conflict(
                    f"the health check of {ref} is declared in scalehook.yaml: remove it "
                    "there (or set strategy none through the API)",
                    field="service",
                )
            raise HealthCheckNotFound(f"{ref} has no health check", field="service")
        if ref in self.declared:
            self._known[ref] = self.declared[ref]
        else:
            self._known.pop(ref, None)
        self.loop.changed()

    async def _ref(self, service: str) -> str:
        """The service's ref; for a service that is gone, the ref its check was kept by."""
        try:
            backend, name = await self.backends.resolve(service)
        except ServiceNotFound:
            known = self._known_ref(service)
            if known is None:
                known = service if await self.store.healthchecks.get(service) else None
            if known is None:
                raise
            return known
        return f"{backend.name}/{name}"

    def _view(
        self, ref: str, stored: HealthCheckSpec | None, row: StoredHealthCheck | None
    ) -> CheckView:
        declared = self.declared.get(ref)
        spec = stored or declared
        assert spec is not None
        return CheckView(
            service=ref,
            source="api" if stored is not None else "file",
            spec=spec,
            declared=declared if stored is not None else None,
            created_at=None if row is None else row.created_at,
            updated_at=None if row is None else row.updated_at,
            watch=self.loop.watches.get(ref),
        )

    async def close(self) -> None:
        """Let recreations under way finish (each is recorded when it does)."""
        if self.deps.background:
            await asyncio.gather(*self.deps.background, return_exceptions=True)
