"""Everything one running scalehook holds, started and stopped in order."""

from __future__ import annotations

import os

from scalehook.auth import admin_token_hash, configured_token
from scalehook.backends import Backends
from scalehook.backends.kinds import build_backend
from scalehook.config import Settings
from scalehook.executor import Executor
from scalehook.hosts.settings import build_host_manager
from scalehook.metrics import Metrics
from scalehook.ratelimit import RateLimiter
from scalehook.store import Store


def build_backends(settings: Settings) -> Backends:
    return Backends(
        [
            build_backend(name, backend, data_dir=settings.data_dir)
            for name, backend in settings.backends.items()
        ]
    )


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store(settings.database_url)
        self.backends = build_backends(settings)
        self.metrics = Metrics()
        self.hosts = (
            build_host_manager(settings.hosts, settings.data_dir) if settings.hosts else None
        )
        self.executor = Executor(self.store, self.backends, self.metrics, hosts=self.hosts)
        self.limiter = RateLimiter(rate=settings.hooks.rate, burst=settings.hooks.burst)
        self.receiver_limiters = {
            name: RateLimiter(rate=limit.rate, burst=limit.burst)
            for name, limit in settings.hooks.receivers.items()
        }
        self.admin_hash = ""
        self.generated_token: str | None = None

    def limiter_for(self, receiver: str) -> RateLimiter:
        """The trigger rate limit of a receiver: its own if the config names it."""
        return self.receiver_limiters.get(receiver, self.limiter)

    async def start(self) -> None:
        token = configured_token(os.environ)  # a bad token file stops us before anything opens
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        await self.store.open()
        try:
            self.admin_hash, self.generated_token = await admin_token_hash(self.store, token)
        except BaseException:
            await self.store.close()
            raise
        try:
            await self.backends.start()
            if self.hosts is not None:
                await self.hosts.start()
        except BaseException:
            await self.backends.close()
            await self.store.close()
            raise
        await self.executor.rollouts.resume()

    async def close(self) -> None:
        await self.executor.rollouts.stop()
        if self.hosts is not None:
            await self.hosts.close()
        await self.backends.close()
        await self.store.close()
