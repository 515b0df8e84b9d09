"""What scalehook runs around a replica's life, without backends knowing who listens.

- ``before_stop``: awaited before scalehook itself stops a replica (a scale-down, a
  rolling-upgrade batch, a recreate, scalehook closing its local replicas), bounded by
  the replica's stop grace. A load balancer drains the replica here. A replica that
  exits on its own, or that an engine stops by itself (a Swarm scale-down), is not
  announced.
- ``changed``: a backend saw a replica of a service change (started, ready, unready,
  gone); listeners look again soon. A hint only: listeners poll too.

A hook that fails or outlasts the grace is logged and the stop goes on: a balancer
that cannot be reached never keeps a replica from stopping.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from scalehook.backends.base import Replica

log = logging.getLogger(__name__)

BeforeStop = Callable[[str, Replica, float], Awaitable[None]]
"""``(service ref, replica, grace seconds)``: the service ref is ``<backend>/<service>``."""
Changed = Callable[[str], None]

_MARGIN = 2.0  # seconds a hook may take beyond the grace (its own last calls) before it is cut


class ReplicaHooks:
    def __init__(self) -> None:
        self._before_stop: list[BeforeStop] = []
        self._changed: list[Changed] = []

    def on_before_stop(self, hook: BeforeStop) -> None:
        self._before_stop.append(hook)

    def on_changed(self, hook: Changed) -> None:
        self._changed.append(hook)

    @property
    def listening(self) -> bool:
        """True if any hook would run before a stop (a backend may skip work if not)."""
        return bool(self._before_stop)

    async def before_stop(self, service: str, replica: Replica, *, grace: float) -> None:
        """Run every ``before_stop`` hook at once; return when all are done, or when
        ``grace`` (plus a small margin) has passed. Never raises but a cancel."""
        if not self._before_stop:
            return
        tasks = [asyncio.ensure_future(hook(service, replica, grace)) for hook in self._before_stop]
        try:
            done, pending = await asyncio.wait(tasks, timeout=max(0.0, grace) + _MARGIN)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            raise
        for task in pending:
            log.warning("%s: a hook before stopping %s ran past its grace", service, replica.id)
            task.cancel()
        for task in done:
            error = task.exception()
            if error is not None:
                log.error(
                    "%s: a hook before stopping %s failed: %s",
                    service,
                    replica.id,
                    error,
                    exc_info=error,
                )

    def changed(self, service: str) -> None:
        for hook in self._changed:
            try:
                hook(service)
            except Exception:  # a listener's bug must not break a backend
                log.exception("%s: a listener of replica changes failed", service)
