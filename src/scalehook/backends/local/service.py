"""A local service: its replicas, converging on the desired count, and its balancer.

During a rolling upgrade a service holds three kinds of replicas: *members* (they make
up the desired count; each runs its own version), *surge* replicas (started ahead of a
start-first batch, kept only once ready) and *retiring* ones (being stopped).

A recreate swaps one member for a new one on the same version in one step (the old
one leaves the balancer and starts stopping, the new one starts, at once), so the
count of members never changes. Rollout batches and recreates take turns: a batch
holds the members it replaces until it is done.

Every replica scalehook stops (retired, replaced, recreated, or all of them when the
service closes) is drained first: no new connections, and its open ones get up to
``stop_grace`` to finish before SIGTERM; meanwhile it is announced to the replica
hooks, which an external load balancer uses to drain it too (within the same grace).
With a health check, new connections go only to the replicas it calls healthy
(``routable``, set by scalehook's health loop through ``LocalBackend.route_to``); when
none is, to every ready one, as a cloud load balancer fails open.

Every replica runs in a cgroup of its own (``cgroups.py``) with the service's CPU and
memory limits as they are when it starts; a change of limits is written to the cgroup
of every replica at once, and new replicas start with it.

At zero replicas, a connection to the balancer is a wake signal: the service calls its
``waker`` (a policy's, registered through ``LocalBackend.on_wake``) once, and the
balancer holds that connection, and those that follow, until a replica is ready (up
to ``wake_timeout``), so the first request after idle gets its answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from scalehook.backends.base import Replica, ReplicaConnections, ServiceConnections, ServiceState
from scalehook.backends.hooks import ReplicaHooks
from scalehook.backends.local.balancer import Balancer
from scalehook.backends.local.cgroups import CgroupError, Cgroups
from scalehook.backends.local.replica import ReplicaProcess
from scalehook.backends.local.spec import LocalServiceSpec
from scalehook.backends.rolling import Replacement
from scalehook.domain.resources import Resources
from scalehook.errors import BackendUnsupported, ReplicaNotFound
from scalehook.loops.clock import Clock, SystemClock

log = logging.getLogger(__name__)

_SPAWN_WAIT = 5.0  # seconds a recreate waits for its new process to be started


class LocalService:
    def __init__(
        self,
        spec: LocalServiceSpec,
        *,
        backend: str,
        desired: int,
        log_dir: Path,
        on_process: Callable[[str, int | None], None],
        version: str | None = None,
        image: str | None = None,
        hooks: ReplicaHooks | None = None,
        cgroups: Cgroups | None = None,
        resources: Resources | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.spec = spec
        self.clock: Clock = clock or SystemClock()
        self.backend = backend
        self.ref = f"{backend}/{spec.name}"
        self._hooks = hooks or ReplicaHooks()
        self.desired = desired
        self.cgroups = cgroups or Cgroups.none("no cgroups were asked for")
        self.resources = resources or Resources()
        self.version = spec.version if version is None else version
        self.image = spec.image_of(self.version) if image is None else image
        self._log_dir = log_dir
        self._on_process = on_process
        self._replicas: dict[int, ReplicaProcess] = {}
        self._surge: dict[int, ReplicaProcess] = {}
        self._retiring: set[ReplicaProcess] = set()
        self._stops: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()  # set whenever a replica changes state
        self._turns = asyncio.Lock()  # one batch or recreate at a time
        self.waker: Callable[[], Awaitable[bool]] | None = None  # asks for a replica at zero
        self._waking: asyncio.Task[bool] | None = None  # a wake asked for, no replica ready yet
        self._wakes: set[asyncio.Task[bool]] = set()
        self._draining: set[ReplicaProcess] = set()  # retiring, waiting for connections
        self.routable: frozenset[str] | None = None  # healthy replica ids; None: no check
        self.balancer: Balancer | None = None
        if spec.port is not None:
            self.balancer = Balancer(
                spec.host, spec.port, self.ready_replicas, clock=self.clock, hold=self.hold
            )

    async def start(self) -> None:
        if self.balancer is not None:
            await self.balancer.start()
        self.reconcile()

    async def close(self) -> None:
        self.desired = 0
        everything = [*self._replicas.values(), *self._surge.values(), *self._retiring]
        self._replicas.clear()
        self._surge.clear()
        self._retiring.update(everything)
        await asyncio.gather(*(self._stop(r) for r in everything))
        if self._stops:
            await asyncio.gather(*self._stops, return_exceptions=True)
        for replica in everything:
            self.cgroups.release(self.spec.name, replica.id)
        if self.balancer is not None:
            await self.balancer.close()

    def ready_replicas(self) -> list[ReplicaProcess]:
        """Members and surge replicas that are ready, and healthy where a health check
        says (every ready one when it calls none healthy): what the balancer may use."""
        ready = [r for r in (*self._replicas.values(), *self._surge.values()) if r.ready]
        if self.routable is None:
            return ready
        return [r for r in ready if r.id in self.routable] or ready

    def reconcile(self) -> None:
        """Start or retire members until there are ``desired`` of them.

        New members run the service's version and take the lowest free index;
        scale-down retires the highest (the newest), which leaves the balancer at once
        and stops gracefully in the background.
        """
        while len(self._replicas) < self.desired:
            replica = self._new_replica(self.version, self.image)
            self._replicas[replica.index] = replica
            replica.start()
        while len(self._replicas) > self.desired:
            self._retire(self._replicas.pop(max(self._replicas)))

    def _new_replica(self, version: str, image: str) -> ReplicaProcess:
        taken = set(self._replicas) | set(self._surge) | {r.index for r in self._retiring}
        index = next(i for i in range(1, len(taken) + 2) if i not in taken)
        return ReplicaProcess(
            self.spec,
            index,
            log_dir=self._log_dir,
            on_change=self._replica_changed,
            version=version,
            image=image,
            cgroup=self._cgroup,
        )

    def _cgroup(self, replica: ReplicaProcess) -> tuple[str, ...]:
        """The replica's cgroup, with the service's limits now (before each start)."""
        return self.cgroups.prepare(self.spec.name, replica.id, self.resources)

    def set_resources(self, limits: Resources) -> list[str]:
        """Hold every replica to ``limits`` from now on: written to the cgroup of each
        that has one (the others, and those started later, start with them). All or
        nothing: when the kernel refuses one (``CgroupError``), those done go back."""
        done: list[ReplicaProcess] = []
        previous = self.resources
        try:
            for replica in self.processes():
                self.cgroups.apply(self.spec.name, replica.id, limits)
                done.append(replica)
        except CgroupError:
            for replica in done:
                try:
                    self.cgroups.apply(self.spec.name, replica.id, previous)
                except CgroupError as exc:  # pragma: no cover - the old limits held before
                    log.error("%s: cannot restore its limits: %s", replica.id, exc)
            raise
        self.resources = limits
        return [r.id for r in done]

    def _retire(self, replica: ReplicaProcess) -> asyncio.Task[None]:
        self._retiring.add(replica)
        task = asyncio.create_task(self._stop(replica))
        self._stops.add(task)
        task.add_done_callback(self._stops.discard)
        return task

    async def _stop(self, replica: ReplicaProcess) -> None:
        """Announce the stop (a balancer drains the replica meanwhile), then stop it."""
        try:
            announce = (
                self._hooks.before_stop(
                    self.ref, self._replica(replica), grace=self.spec.stop_grace
                )
                if replica.running
                else asyncio.sleep(0)
            )
            await asyncio.gather(announce, self._drain(replica))
            await replica.stop(self.spec.stop_grace)
        finally:
            self.cgroups.release(self.spec.name, replica.id)
            self._retiring.discard(replica)

    async def _drain(self, replica: ReplicaProcess) -> None:
        """Wait (up to ``stop_grace``) until the balancer has no connection open to a
        replica it no longer sends new ones to."""
        if self.balancer is None or not self.balancer.connections(replica.key):
            return
        self._draining.add(replica)
        self._changed.set()
        try:
            if not await self.balancer.drained(replica.key, self.spec.stop_grace):
                log.warning(
                    "replica %s still had %d connection(s) after stop_grace (%.1fs); stopping it",
                    replica.id,
                    self.balancer.connections(replica.key),
                    self.spec.stop_grace,
                )
        finally:
            self._draining.discard(replica)

    def _replica_changed(self, replica: ReplicaProcess) -> None:
        self._on_process(replica.id, replica.pid)
        if replica.ready:
            self._waking = None  # woken: connections go to it from now on
        self._changed.set()
        self._hooks.changed(self.ref)

    # waking from zero ------------------------------------------------------------------

    async def hold(self) -> bool:
        """A connection found no ready replica: at zero replicas (or while a wake is
        under way), ask for a replica once and wait for one to be ready, up to
        ``wake_timeout``. True once one is; False at once when no one wakes this
        service (no waker, or it declines), as when replicas are down for another reason."""
        waking = self._waking
        if self.desired == 0 and (waking is None or waking.done()):
            if self.waker is None:
                return False
            waking = asyncio.create_task(self._wake(self.waker), name=f"wake {self.spec.name}")
            self._waking = waking
            self._wakes.add(waking)
            waking.add_done_callback(self._wakes.discard)
        elif waking is None:
            return False
        wake = waking

        def settled() -> bool:
            declined = wake.done() and not wake.result()
            return bool(self.ready_replicas()) or declined

        await self._wait(settled, self.spec.wake_timeout)
        return bool(self.ready_replicas())

    async def _wake(self, waker: Callable[[], Awaitable[bool]]) -> bool:
        try:
            woken = await waker()
        except Exception:
            log.exception("waking %s failed", self.spec.name)
            woken = False
        if not woken and self._waking is asyncio.current_task():
            self._waking = None
        self._changed.set()  # waiting connections look again
        return woken

    def connections(self) -> ServiceConnections:
        """What the balancer counts, per member and surge replica."""
        balancer = self.balancer
        if balancer is None:
            raise BackendUnsupported(
                f"service {self.spec.name!r} has no load balancer: give it a port in scalehook.yaml"
            )
        serving = [*self._replicas.values(), *self._surge.values()]
        balancer.forget({r.id for r in serving})
        return ServiceConnections(
            replicas=tuple(
                ReplicaConnections(
                    replica=r.id,
                    ready=r.ready,
                    active=balancer.connections(r.id),
                    total=balancer.total(r.id),
                    last_connection=balancer.last(r.id),
                )
                for r in sorted(serving, key=lambda r: r.index)
            ),
            waiting=balancer.waiting,
            last_connection=balancer.last_connection,
            sampled_at=self.clock.now(),
        )

    async def _wait_ready(self, replicas: Sequence[ReplicaProcess], seconds: float) -> bool:
        """True once every replica is ready; False if one is not after ``seconds``."""
        return await self._wait(lambda: all(r.ready for r in replicas), seconds)

    async def _wait(self, done: Callable[[], bool], seconds: float) -> bool:
        """True once ``done()`` holds (checked at each replica change), else False after
        ``seconds``."""
        try:
            async with asyncio.timeout(seconds):
                while not done():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            return done()
        return True

    # recreating ----------------------------------------------------------------------

    async def recreate(self, replica: str) -> Replica:
        """Replace the member ``replica`` by a new one on its version: the old one leaves
        the balancer at once and is stopped (SIGTERM, SIGKILL after ``stop_grace``), the
        new one starts meanwhile. Returns once the old one is gone and the new one's
        process runs (or could not start: it restarts with backoff, as any replica)."""
        async with self._turns:
            old = next((r for r in self._replicas.values() if r.id == replica), None)
            if old is None:
                members = ", ".join(r.id for r in self._replicas.values()) or "none"
                raise ReplicaNotFound(
                    f"{self.spec.name} has no member {replica!r} (members: {members}; one "
                    "being stopped, or started by a rollout and not kept yet, is not one)"
                )
            del self._replicas[old.index]  # out of the balancer at once
            stopping = self._retire(old)
            new = self._new_replica(old.version, old.image)
            self._replicas[new.index] = new
            new.start()
            await asyncio.wait({stopping})  # cancelled, the stop goes on by itself
            await self._wait(lambda: new.pid is not None or new.state != "starting", _SPAWN_WAIT)
            return self._replica(new)

    # rolling upgrades ----------------------------------------------------------------

    async def replace(
        self,
        ids: Sequence[str],
        *,
        version: str,
        image: str,
        start_first: bool,
        ready_timeout: float,
    ) -> Replacement:
        """Replace the members ``ids`` by as many replicas running ``version``."""
        async with self._turns:
            return await self._replace(
                ids,
                version=version,
                image=image,
                start_first=start_first,
                ready_timeout=ready_timeout,
            )

    async def _replace(
        self,
        ids: Sequence[str],
        *,
        version: str,
        image: str,
        start_first: bool,
        ready_timeout: float,
    ) -> Replacement:
        old = [r for r in self._replicas.values() if r.id in set(ids)]
        if not old:
            return Replacement(started=(), stopped=(), ready=True)
        if start_first:
            return await self._replace_start_first(old, version, image, ready_timeout)
        stopping = []
        for replica in old:
            del self._replicas[replica.index]  # out of the balancer at once
            stopping.append(self._retire(replica))
        try:
            await asyncio.wait(stopping)  # a cancel here leaves the stops running...
        except asyncio.CancelledError:
            self.reconcile()  # ...and refills the desired count on the service's version
            raise
        new = []
        for _ in old:
            replica = self._new_replica(version, image)
            self._replicas[replica.index] = replica
            replica.start()
            new.append(replica)
        self.reconcile()  # a scale meanwhile may have left one too many
        new = [r for r in new if self._replicas.get(r.index) is r]
        ready = await self._wait_ready(new, ready_timeout)
        return Replacement(
            started=_ids(new),
            stopped=_ids(old),
            ready=ready,
            reason="" if ready else _not_ready(new, image, ready_timeout),
        )

    async def _replace_start_first(
        self, old: list[ReplicaProcess], version: str, image: str, ready_timeout: float
    ) -> Replacement:
        new = []
        for _ in old:
            replica = self._new_replica(version, image)
            self._surge[replica.index] = replica
            replica.start()
            new.append(replica)
        kept = False
        try:
            ready = await self._wait_ready(new, ready_timeout)
            if ready:
                for replica in old:
                    if self._replicas.get(replica.index) is replica:
                        del self._replicas[replica.index]
                        self._retire(replica)
                for replica in new:
                    del self._surge[replica.index]
                    self._replicas[replica.index] = replica
                kept = True
                self.reconcile()  # a scale-down meanwhile may have left one too many
                return Replacement(started=_ids(new), stopped=_ids(old), ready=True)
            return Replacement(
                started=_ids(new),
                stopped=_ids(new),
                ready=False,
                reason=_not_ready(new, image, ready_timeout),
            )
        finally:
            if not kept:
                for replica in new:
                    self._surge.pop(replica.index, None)
                    self._retire(replica)

    def members(self) -> list[Replica]:
        return [self._replica(r) for r in sorted(self._replicas.values(), key=lambda r: r.index)]

    # views -----------------------------------------------------------------------------

    def state(self) -> ServiceState:
        active = [*self._replicas.values(), *self._surge.values()]
        return ServiceState(
            name=self.spec.name,
            backend=self.backend,
            labels=dict(self.spec.labels),
            desired=self.desired,
            running=sum(1 for r in active if r.running),
            ready=sum(1 for r in active if r.ready),
            image=self.image,
        )

    def replicas(self) -> list[Replica]:
        return [self._replica(r) for r in self.processes()]

    def processes(self) -> list[ReplicaProcess]:
        """Members, then surge, then retiring replicas, each by index."""
        everything = sorted(self._replicas.values(), key=lambda r: r.index)
        everything += sorted(self._surge.values(), key=lambda r: r.index)
        everything += sorted(self._retiring, key=lambda r: r.index)
        return everything

    def _replica(self, r: ReplicaProcess) -> Replica:
        return Replica(
            id=r.id,
            service=self.spec.name,
            state="draining" if r in self._draining else r.state,
            ready=r.ready,
            address=f"{r.spec.host}:{r.port}" if r.port is not None else None,
            pid=r.pid,
            started_at=r.started_at,
            image=r.image,
            restarts=r.restarts,
            port=r.port,
        )


def _not_ready(replicas: Sequence[ReplicaProcess], image: str, timeout: float) -> str:
    reasons = []
    for replica in replicas:
        if replica.ready:
            continue
        text = f"{replica.id} ({image}) was not ready within {timeout:g}s"
        if replica.last_error:
            text += f" ({replica.last_error}"
            text += f", {replica.restarts} restart(s))" if replica.restarts else ")"
        reasons.append(text)
    return "; ".join(reasons)


def _ids(replicas: Sequence[ReplicaProcess]) -> tuple[str, ...]:
    return tuple(r.id for r in replicas)


__all__ = ["LocalService"]
