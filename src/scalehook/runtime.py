"""Everything one running scalehook holds, started and stopped in order."""

from __future__ import annotations

import asyncio
import os

from scalehook.auth import GENERATED_FILE, admin_token_hash, configured_token
from scalehook.backends import Backends
from scalehook.backends.hooks import ReplicaHooks
from scalehook.backends.kinds import RegistryAuth, build_backend
from scalehook.balancers.loop import MembershipLoop
from scalehook.balancers.registry import Balancers
from scalehook.config import Settings
from scalehook.datadir import DataDirLock
from scalehook.domain.selectors import Selector
from scalehook.executor import Executor
from scalehook.health import Health
from scalehook.hosts.settings import build_host_manager
from scalehook.loops import (
    Clock,
    Leadership,
    LeaseLeadership,
    Loop,
    SoleLeadership,
    Supervisor,
    SystemClock,
)
from scalehook.metrics import Metrics
from scalehook.notifications.delivery import DeliveryLoop
from scalehook.notifications.enqueue import Enqueuer
from scalehook.policies.loop import PolicyLoop
from scalehook.policies.sources import build_sources
from scalehook.ratelimit import RateLimiter
from scalehook.rollouts import ResumeRollouts
from scalehook.scrape import Scrape
from scalehook.store import Store


def build_backends(settings: Settings, clock: Clock) -> Backends:
    """Every backend of the settings, all running one set of replica hooks."""
    hooks = ReplicaHooks()
    registry_auth = RegistryAuth(settings.registries)
    return Backends(
        [
            build_backend(
                name,
                backend,
                data_dir=settings.data_dir,
                registry_auth=registry_auth,
                clock=clock,
                hooks=hooks,
            )
            for name, backend in settings.backends.items()
        ],
        hooks=hooks,
    )


def build_loops(runtime: Runtime) -> list[Loop]:
    """Every loop this scalehook runs (a new loop is one line here)."""
    return [
        ResumeRollouts(runtime.executor.rollouts, runtime.clock),
        runtime.policies,
        runtime.notifications,
        *([MembershipLoop(runtime.balancers, runtime.clock)] if runtime.balancers else []),
        runtime.health.loop,
    ]


def build_leadership(settings: Settings, store: Store, clock: Clock) -> Leadership:
    """One instance on SQLite always leads; on PostgreSQL the instances elect one."""
    if not store.shared:
        return SoleLeadership()
    return LeaseLeadership(
        store.leases, clock, lease=settings.leader.lease, renew=settings.leader.renew
    )


class Runtime:
    """Started in order: the data-dir lock, the store, the balancers' check, the backends
    and hosts, then leadership and the loops; stopped in the reverse order (the loops
    first; the backends before the balancers, which drain the replicas they stop)."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.data_dir_lock = DataDirLock(settings.data_dir)
        self.store = Store(
            settings.database_url,
            pool=settings.database_pool,
            synchronous=settings.sqlite_synchronous,
        )
        self.store.notifications.ttl = settings.notifications.refresh
        self.leadership = build_leadership(settings, self.store, self.clock)
        self.backends = build_backends(settings, self.clock)
        self.metrics = Metrics()
        self.hosts = (
            build_host_manager(settings.hosts, settings.data_dir, clock=self.clock)
            if settings.hosts
            else None
        )
        self.executor = Executor(
            self.store,
            self.backends,
            self.metrics,
            clock=self.clock,
            hosts=self.hosts,
            leadership=self.leadership,
        )
        self.health = Health(
            store=self.store,
            backends=self.backends,
            executor=self.executor,
            metrics=self.metrics,
            clock=self.clock,
            declared=settings.declared_health_checks(),
        )
        # Load balancers keep the ready replicas that health checks call healthy.
        self.balancers = Balancers(
            settings.balancers,
            backends=self.backends,
            health=self.health,
            metrics=self.metrics,
            clock=self.clock,
        )
        if self.balancers:
            self.backends.hooks.on_before_stop(self.balancers.before_stop)
            self.backends.hooks.on_changed(self.balancers.changed)
        self.scrape = Scrape(
            self.backends, self.metrics, self.clock, hosts=self.hosts, groups=self.host_groups
        )
        self.limiter = RateLimiter(
            rate=settings.hooks.rate, burst=settings.hooks.burst, clock=self.clock.monotonic
        )
        self.receiver_limiters = {
            name: RateLimiter(rate=limit.rate, burst=limit.burst, clock=self.clock.monotonic)
            for name, limit in settings.hooks.receivers.items()
        }
        # A `balancer` metric reads HAProxy for a service one of `balancers:` carries.
        self.policy_sources = build_sources(
            clock=self.clock,
            prometheus=settings.prometheus,
            balancer_load=self.balancers.replica_load if self.balancers else None,
        )
        self.policies = PolicyLoop(
            store=self.store,
            executor=self.executor,
            backends=self.backends,
            metrics=self.metrics,
            clock=self.clock,
            sources=self.policy_sources,
        )
        # Notifications: matched and enqueued as each execution is recorded, sent by a loop.
        self.notifications = DeliveryLoop(
            self.store,
            self.clock,
            self.metrics,
            settings.notifications,
            instance=self.leadership.instance,
            public_url=settings.server.public_url,
        )
        self.executor.recorder.hooks.append(
            Enqueuer(self.store, self.clock, wake=self.notifications.wake)
        )
        self.supervisor = Supervisor(self.leadership, self.clock, self.metrics)
        for loop in build_loops(self):
            self.supervisor.add(loop)
        self.admin_hash = ""
        self.generated_token: str | None = None
        # Set once the server begins to stop: long answers (the execution stream) end.
        self.stopping = asyncio.Event()
        self.token_file = settings.data_dir / GENERATED_FILE

    async def host_groups(self) -> list[Selector]:
        """The host groups scaleHost receivers act on."""
        return [
            Selector.of(r.config.get("selector"))
            for r in await self.store.receivers.all()
            if r.driver == "scaleHost"
        ]

    def limiter_for(self, receiver: str) -> RateLimiter:
        """The trigger rate limit of a receiver: its own if the config names it."""
        return self.receiver_limiters.get(receiver, self.limiter)

    async def start(self) -> None:
        token = configured_token(os.environ)  # a bad token file stops us before anything opens
        self.data_dir_lock.acquire()  # before anything touches the data dir
        try:
            await self.store.open()
            try:
                self.admin_hash, self.generated_token = await admin_token_hash(
                    self.store, token, token_file=self.token_file
                )
                await self.balancers.start()  # an unusable balancer stops us here
                await self.backends.start()
                if self.hosts is not None:
                    await self.hosts.start()
            except BaseException:
                await self.backends.close()
                await self.store.close()
                raise
        except BaseException:
            self.data_dir_lock.release()
            raise
        await self.leadership.start()
        await self.supervisor.start()

    async def close(self) -> None:
        self.stopping.set()
        await self.supervisor.stop()
        await self.leadership.close()
        await self.health.close()
        await self.executor.rollouts.stop()
        for source in self.policy_sources.values():
            await source.close()
        await self.scrape.close()
        if self.hosts is not None:
            await self.hosts.close()
        await self.backends.close()  # local replicas are drained out of balancers first
        await self.balancers.close()
        await self.store.close()
        self.data_dir_lock.release()
