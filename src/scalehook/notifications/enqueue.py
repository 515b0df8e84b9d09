"""The recorder's hook: a finished execution becomes one outbox row per notification
that wants it, in the transaction that records the execution.

Matching is pure (``domain.notifications.matches``) against the list the store keeps
in memory, so an execution no notification wants costs no I/O. The loop is woken once
the transaction has ended, so a delivery leaves at once, not at the next poll.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from scalehook.domain.executions import Execution, execution_json
from scalehook.domain.notifications import matches
from scalehook.loops.clock import Clock
from scalehook.store import Store, Transaction

log = logging.getLogger(__name__)


class Enqueuer:
    def __init__(self, store: Store, clock: Clock, *, wake: Callable[[], None]) -> None:
        self.store = store
        self.clock = clock
        self.wake = wake

    async def recorded(self, execution: Execution, *, tx: Transaction) -> None:
        notifications = await self.store.notifications.active(now=self.clock.monotonic(), tx=tx)
        if not notifications:
            return
        try:
            wanted = [n for n in notifications if matches(n.filter, execution)]
        except Exception:  # a bug in matching must not lose the execution it looks at
            log.exception("matching execution %s against the notifications failed", execution.id)
            return
        if not wanted:
            return
        await self.store.outbox.enqueue(
            wanted,
            execution_id=execution.id,
            payload=execution_json(execution),
            now=self.clock.now(),
            tx=tx,
        )
        tx.after(self.wake)
