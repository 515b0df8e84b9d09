"""One HAProxy kept in step with the replicas of the services mapped to its backends.

A replica belongs in its service's HAProxy backend when it is ready and, where the
service has a health check, ``healthy``; it is then the server ``<prefix><replica>``
(``shk-web-1``) at the address its settings pick (``endpoint``). ``sync`` compares that
with what the backend has (``show servers state``) and applies the plan of
``domain.membership``: servers it did not add are never touched, its own stale ones are
drained and deleted, so a restart of scalehook or of HAProxy converges without a reload.

Before scalehook stops one of the replicas (``before_stop``, a replica hook) the
replica is marked as leaving, so no sync adds it again while it stops, and the same sync
runs at once: ready replicas not in yet are added first (a replacement that just became
ready takes traffic before the old one stops taking it), then the leaving one is
drained. The hook returns when it has drained and been deleted, or when its grace runs
out; the stop goes on either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from scalehook.backends import Backends, Replica
from scalehook.balancers import servers
from scalehook.balancers.haproxy import (
    HAProxyError,
    HAProxyNotFound,
    HAProxyUnavailable,
    HAProxyUnsupported,
    RuntimeAPI,
    ServerState,
)
from scalehook.balancers.settings import BalancerSettings, MemberSettings
from scalehook.config import ConfigError
from scalehook.domain.membership import Plan, Present, Wanted, plan, server_name
from scalehook.errors import BackendError, ScalehookError, ServiceNotFound
from scalehook.loops.clock import Clock
from scalehook.metrics import Metrics

log = logging.getLogger(__name__)

HOLD = 60.0  # seconds a server of ours in drain or maintenance is left to whoever put it so
DEFAULT_DRAIN = 10.0  # seconds to drain a server when no stop grace says otherwise
_LEAVING_MIN = 30.0  # seconds a leaving replica stays out at least, if it never goes


class HealthView(Protocol):
    """What the health checks say of a service's replicas (``runtime.health``).

    ``states(ref)`` takes the service ref ``<backend>/<service>`` and returns each
    replica's state by replica id (``initializing``, ``healthy``, ``unhealthy``,
    ``reinitializing``), or None when the service has no health check."""

    def states(self, service: str) -> Mapping[str, str] | None: ...


class NoHealth:
    """No service has a health check: readiness alone decides (until health checks are
    wired in)."""

    def states(self, service: str) -> Mapping[str, str] | None:
        return None


@dataclass(slots=True)
class Mapped:
    """One service carried by one HAProxy backend."""

    ref: str  # as written under `services:`
    settings: MemberSettings
    resolved: str | None = None  # its ref as the backends name it: <backend>/<service>


@dataclass(frozen=True, slots=True)
class Leaving:
    """A replica scalehook is stopping: kept out until it is gone (or ``until``)."""

    replica: str
    started_at: datetime | None
    until: float  # clock.monotonic() after which it may come back


@dataclass(slots=True)
class _Outcome:
    failures: set[str] = field(default_factory=set)  # server names whose change failed


def endpoint(settings: MemberSettings, replica: Replica) -> tuple[str, int] | None:
    """Where HAProxy reaches ``replica`` as ``settings`` say, or None if it cannot yet
    (no address, no port known, not attached to the network, the port not published)."""
    port = settings.port or replica.port
    if settings.address == "replica":
        if not replica.address:
            return None
        host, given = _split(replica.address)
        port = settings.port or given
        return (host, port) if port else None
    if settings.address == "published":
        bound = replica.published.get(port) if port else None
        if not bound:
            return None
        host, _, published = bound.rpartition(":")
        host = host.strip("[]")
        if host in ("", "0.0.0.0", "::"):  # noqa: S104 - published on every interface
            host = settings.host
        return host, int(published)
    ip = replica.networks.get(settings.network or "")
    return (ip, port) if ip and port else None


def _split(address: str) -> tuple[str, int | None]:
    """``10.0.0.5:8080`` → (``10.0.0.5``, 8080); ``[::1]:80`` → (``::1``, 80); a bare
    address → (it, None)."""
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(address.strip("[]"))), None
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port) if port.isdigit() else None


async def _ip(host: str) -> str:
    """``host`` as an IP address: HAProxy resolves no name given at run time."""
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(host))
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return str(infos[0][4][0])


class Membership:
    def __init__(
        self,
        name: str,
        settings: BalancerSettings,
        *,
        backends: Backends,
        health: HealthView,
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        self.name = name
        self.settings = settings
        self.api = RuntimeAPI(
            socket=settings.haproxy.socket,
            tcp=settings.haproxy.tcp_address,
            timeout=settings.haproxy.timeout,
        )
        self._backends = backends
        self._health = health
        self._metrics = metrics
        self._clock = clock
        self.mapped = [Mapped(ref, member) for ref, member in settings.services.items()]
        self._locks: dict[str, asyncio.Lock] = {}
        self._removals: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._drain_for: dict[tuple[str, str], float] = {}
        self._leaving: dict[tuple[str, str], Leaving] = {}
        self._owners: dict[tuple[str, str], tuple[str, str]] = {}  # (be, server) → (ref, replica)
        self.up: bool | None = None
        self.wake = asyncio.Event()  # set when a backend reports a replica change
        self._said: set[str] = set()  # errors logged, not logged again while they last
        self._saying: set[str] = set()  # errors met in this reconcile
        metrics.balancer_up.labels(name).set(0)

    @property
    def haproxy_backends(self) -> list[str]:
        return sorted({m.settings.backend for m in self.mapped})

    def _where(self, key: str) -> str:
        return f"balancers.{self.name}.{key}"

    # start-up ------------------------------------------------------------------------

    async def check(self) -> None:
        """At start: the socket answers at level admin, and every backend named exists.
        Else ``ConfigError`` naming the setting."""
        address = self._where(f"haproxy.{self.settings.haproxy.field}")
        try:
            level = await self.api.level()
        except BackendError as exc:
            raise ConfigError(f"{address}: {exc.message}", field=address) from exc
        if level != "admin":
            raise ConfigError(
                f"{address}: HAProxy's socket {self.api.display} is at level {level!r}; "
                "scalehook adds and removes servers, which needs 'level admin'",
                field=address,
            )
        for mapped in self.mapped:
            where = self._where(f"services.{mapped.ref}.backend")
            try:
                await self.api.servers(mapped.settings.backend)
            except HAProxyNotFound as exc:
                raise ConfigError(
                    f"{where}: HAProxy at {self.api.display} has no backend "
                    f"{mapped.settings.backend!r}",
                    field=where,
                ) from exc
            except BackendError as exc:
                raise ConfigError(f"{where}: {exc.message}", field=where) from exc
        self._back()

    async def close(self) -> None:
        for task in self._removals.values():
            task.cancel()
        if self._removals:
            await asyncio.gather(*self._removals.values(), return_exceptions=True)

    # reconciling ---------------------------------------------------------------------

    async def reconcile(self) -> None:
        """Sync every HAProxy backend; a failure is logged and counted, never raised (the
        next reconcile tries again)."""
        try:
            for backend in self.haproxy_backends:
                await self.sync(backend)
        except (HAProxyUnavailable, HAProxyUnsupported) as exc:
            self._down(exc)
        except ScalehookError as exc:
            self._metrics.balancer_errors.labels(self.name).inc()
            self._say(f"balancer {self.name}: {exc.message}")
        else:
            self._back()
        finally:  # an error not met again is logged again if it comes back
            self._said, self._saying = self._saying, set()

    def _down(self, exc: ScalehookError) -> None:
        self._metrics.balancer_errors.labels(self.name).inc()
        self._metrics.balancer_up.labels(self.name).set(0)
        if self.up is not False:
            log.error(
                "balancer %s: %s; membership is kept again once it answers",
                self.name,
                exc.message,
            )
        self.up = False

    def _back(self) -> None:
        self._metrics.balancer_up.labels(self.name).set(1)
        if self.up is False:
            log.info("balancer %s: HAProxy at %s answers again", self.name, self.api.display)
        self.up = True

    def _say(self, message: str) -> None:
        """Log an error once while it lasts (a backend refusing dynamic servers would
        otherwise fill the log every few seconds)."""
        self._saying.add(message)
        if message not in self._said:
            self._said.add(message)
            log.error("%s", message)

    def _lock(self, backend: str) -> asyncio.Lock:
        return self._locks.setdefault(backend, asyncio.Lock())

    async def sync(self, backend: str) -> Plan:
        """Make HAProxy's ``backend`` carry exactly the ready replicas of its services:
        adds, moves and enables are done before this returns; removals (which drain) run
        in the background."""
        async with self._lock(backend):
            wanted: dict[str, Wanted] = {}
            known = True
            for mapped in self.mapped:
                if mapped.settings.backend == backend:
                    found = await self._wanted(mapped)
                    if found is None:
                        known = False
                    else:
                        wanted.update(found)
            present = await self.api.servers(backend)
            busy = {server for (be, server) in self._removals if be == backend}
            todo = plan(
                wanted,
                [_present(s) for s in present],
                prefix=self.settings.prefix,
                busy=busy,
                hold=HOLD,
            )
            if not known:  # a service we could not list: remove nothing on its account
                todo = Plan(add=todo.add, move=todo.move, enable=todo.enable, held=todo.held)
            outcome = await self._apply(backend, todo)
            self._count_members(backend, wanted, todo, outcome)
            return todo

    async def _wanted(self, mapped: Mapped) -> dict[str, Wanted] | None:
        """The servers ``mapped``'s replicas should be; None if its replicas cannot be
        listed now (nothing is removed for it then)."""
        try:
            backend, service = await self._backends.resolve(mapped.ref)
            replicas = await backend.replicas(service=service)
        except ServiceNotFound as exc:
            self._say(f"balancer {self.name}: service {mapped.ref!r}: {exc.message}")
            return {}
        except BackendError as exc:
            self._say(f"balancer {self.name}: service {mapped.ref!r}: {exc.message}")
            return None
        mapped.resolved = f"{backend.name}/{service}"
        states = self._health.states(mapped.resolved)
        self._forget_gone(backend.name, replicas)
        now = self._clock.monotonic()
        wanted: dict[str, Wanted] = {}
        for replica in replicas:
            if not replica.ready or (states is not None and states.get(replica.id) != "healthy"):
                continue
            if (backend.name, replica.id) in self._leaving:
                if self._leaving[(backend.name, replica.id)].until > now:
                    continue
                del self._leaving[(backend.name, replica.id)]
            where = endpoint(mapped.settings, replica)
            if where is None:
                log.debug("%s: %s has no address for %s yet", mapped.ref, replica.id, self.name)
                continue
            try:
                host = await _ip(where[0])
            except OSError as exc:
                self._say(f"balancer {self.name}: {replica.id}: cannot resolve {where[0]}: {exc}")
                continue
            name = server_name(self.settings.prefix, replica.id)
            wanted[name] = Wanted(
                name=name,
                host=host,
                port=where[1],
                service=mapped.ref,
                replica=replica.id,
                keywords=tuple(mapped.settings.keywords()),
                check=mapped.settings.check,
            )
            self._owners[(mapped.settings.backend, name)] = (mapped.ref, replica.id)
        return wanted

    def _forget_gone(self, backend: str, replicas: list[Replica]) -> None:
        """Leaving replicas that are no longer listed (or listed anew: another start) are
        forgotten: a new replica of the same id may join."""
        listed = {r.id: r.started_at for r in replicas}
        for key, leaving in list(self._leaving.items()):
            if key[0] != backend:
                continue
            if leaving.replica not in listed:
                del self._leaving[key]
                continue
            started = listed[leaving.replica]
            if leaving.started_at and started and started != leaving.started_at:
                del self._leaving[key]

    async def _apply(self, backend: str, todo: Plan) -> _Outcome:
        outcome = _Outcome()
        steps = [
            *((servers.add, w, "added") for w in todo.add),
            *((servers.move, w, "moved") for w in todo.move),
            *((servers.enable, w, "enabled") for w in todo.enable),
        ]
        for step, server, change in steps:
            try:
                await step(self.api, backend, server)
            except HAProxyError as exc:
                if isinstance(exc, HAProxyUnsupported):
                    raise
                outcome.failures.add(server.name)
                self._metrics.balancer_errors.labels(self.name).inc()
                self._say(f"balancer {self.name}: {backend}/{server.name}: {exc.message}")
                continue
            self._metrics.balancer_changes.labels(self.name, server.service, change).inc()
            log.info(
                "balancer %s: %s %s/%s (%s, %s)",
                self.name,
                change,
                backend,
                server.name,
                server.endpoint,
                server.service,
            )
        for gone in todo.remove:
            self._start_removal(backend, gone)
        return outcome

    def _count_members(
        self, backend: str, wanted: Mapping[str, Wanted], todo: Plan, outcome: _Outcome
    ) -> None:
        out = outcome.failures | set(todo.held)
        for mapped in self.mapped:
            if mapped.settings.backend != backend:
                continue
            members = sum(
                1 for w in wanted.values() if w.service == mapped.ref and w.name not in out
            )
            self._metrics.balancer_members.labels(self.name, mapped.ref).set(members)

    # removing ------------------------------------------------------------------------

    def _start_removal(self, backend: str, server: Present) -> None:
        key = (backend, server.name)
        if key in self._removals:
            return
        task = asyncio.create_task(
            self._remove(backend, server), name=f"remove {backend}/{server.name}"
        )
        self._removals[key] = task
        task.add_done_callback(lambda _: self._removals.pop(key, None))

    async def _remove(self, backend: str, server: Present) -> None:
        key = (backend, server.name)
        service = self._service_of(backend, server.name)
        timeout = self._drain_for.pop(key, None) or self._drain_timeout(backend)
        try:
            if not server.maint:
                drained = await servers.drain(
                    self.api, self._clock, backend, server, timeout=timeout
                )
                change = "drained" if drained else "cut"
                self._metrics.balancer_changes.labels(self.name, service, change).inc()
                log.info(
                    "balancer %s: %s %s/%s (%s)",
                    self.name,
                    "drained" if drained else f"cut after {timeout:g}s of draining",
                    backend,
                    server.name,
                    service,
                )
            if await servers.delete(self.api, self._clock, backend, server.name):
                self._metrics.balancer_changes.labels(self.name, service, "removed").inc()
                self._owners.pop(key, None)
                log.info(
                    "balancer %s: removed %s/%s (%s)", self.name, backend, server.name, service
                )
        except HAProxyNotFound:
            self._owners.pop(key, None)
        except (HAProxyUnavailable, HAProxyUnsupported) as exc:
            self._down(exc)
        except ScalehookError as exc:
            self._metrics.balancer_errors.labels(self.name).inc()
            self._say(f"balancer {self.name}: removing {backend}/{server.name}: {exc.message}")

    def _service_of(self, backend: str, server: str) -> str:
        owner = self._owners.get((backend, server))
        if owner is not None:
            return owner[0]
        refs = [m.ref for m in self.mapped if m.settings.backend == backend]
        return refs[0] if len(refs) == 1 else ""

    def _drain_timeout(self, backend: str) -> float:
        timeouts = [
            m.settings.drain_timeout
            for m in self.mapped
            if m.settings.backend == backend and m.settings.drain_timeout
        ]
        return max(timeouts) if timeouts else DEFAULT_DRAIN

    # stopping ------------------------------------------------------------------------

    async def before_stop(self, service: str, replica: Replica, grace: float) -> None:
        """Drain ``replica`` of ``service`` (``<backend>/<name>``) out of every HAProxy
        backend that carries it; return once it is out, or ``grace`` has passed."""
        removals = []
        for mapped in self.mapped:
            if not mapped.settings.drain or not await self.carries(mapped, service):
                continue
            backend_name = service.partition("/")[0]
            self._leaving[(backend_name, replica.id)] = Leaving(
                replica=replica.id,
                started_at=replica.started_at,
                until=self._clock.monotonic() + max(2 * grace, _LEAVING_MIN),
            )
            be = mapped.settings.backend
            name = server_name(self.settings.prefix, replica.id)
            self._drain_for[(be, name)] = mapped.settings.drain_timeout or grace
            try:
                await self.sync(be)
            except (HAProxyUnavailable, HAProxyUnsupported) as exc:
                self._down(exc)
                continue
            except ScalehookError as exc:
                self._metrics.balancer_errors.labels(self.name).inc()
                log.error("balancer %s: before stopping %s: %s", self.name, replica.id, exc.message)
                continue
            task = self._removals.get((be, name))
            if task is not None:
                removals.append(task)
        if removals:
            await asyncio.wait([asyncio.shield(t) for t in removals])
        for mapped in self.mapped:
            key = (mapped.settings.backend, server_name(self.settings.prefix, replica.id))
            if key not in self._removals:
                self._drain_for.pop(key, None)

    async def carries(self, mapped: Mapped, service: str) -> bool:
        """Whether ``mapped`` is ``service`` (``<backend>/<service>``), resolving its ref
        the first time (before any reconcile has)."""
        if mapped.resolved is None:
            try:
                backend, name = await self._backends.resolve(mapped.ref)
            except ScalehookError:
                return False
            mapped.resolved = f"{backend.name}/{name}"
        return mapped.resolved == service

    async def replicas_of(self, mapped: Mapped) -> list[Replica]:
        """``mapped``'s replicas now (``ServiceNotFound``, ``BackendError``)."""
        backend, service = await self._backends.resolve(mapped.ref)
        mapped.resolved = f"{backend.name}/{service}"
        return await backend.replicas(service=service)

    def owner(self, backend: str, server: str) -> tuple[str, str] | None:
        """(service ref, replica id) of one of scalehook's servers, if known."""
        return self._owners.get((backend, server))


def _present(server: ServerState) -> Present:
    return Present(
        name=server.name,
        host=server.address,
        port=server.port,
        ready=server.ready,
        maint=server.maint,
        since_change=float(server.since_change),
    )
