"""The loop that empties the outbox: claim what is due, send it, record how it went.

It runs on every instance: rows are leased to one instance at a time (``store/outbox``),
so several instances on one PostgreSQL share the work and none sends a delivery that
another is sending. A failed try is retried after ``backoff``, doubling up to
``max_backoff``, until ``attempts`` tries have failed (then the delivery is ``failed``,
kept for the API and counted in ``/metrics``); an answer no retry can change (a 4xx, an
SMTP 5xx) fails it at once. Deliveries are sent ``concurrency`` at a time, each within
its deadline, so a receiver that hangs holds up only its own delivery. A delivery that
ended more than ``keep`` ago is forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from scalehook import __version__
from scalehook.domain.durations import format_duration
from scalehook.domain.notifications import (
    Delivery,
    DeliveryId,
    Notification,
    redact,
    retry_delay,
    secrets_of,
)
from scalehook.loops.clock import Clock
from scalehook.metrics import Metrics
from scalehook.notifications.base import DeliveryFailed, SendContext, Sender
from scalehook.notifications.senders import SENDERS
from scalehook.notifications.settings import NotificationSettings
from scalehook.store import Store

log = logging.getLogger(__name__)

PRUNE_EVERY = 3600.0


class DeliveryLoop:
    name = "notifications"
    leader_only = False  # every instance delivers; the outbox leases rows to one of them

    def __init__(
        self,
        store: Store,
        clock: Clock,
        metrics: Metrics,
        settings: NotificationSettings,
        *,
        instance: str,
        public_url: str | None = None,
        senders: dict[str, Sender] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.metrics = metrics
        self.settings = settings
        self.instance = instance
        self.senders = SENDERS if senders is None else senders
        self.context = SendContext(
            ssl=settings.ssl_context(),
            timeout=settings.timeout,
            public_url=public_url,
            user_agent=f"scalehook/{__version__}",
            now=clock.now,
        )
        # One try may take a connect, TLS, a login and the send, each within ``timeout``.
        self.deadline = settings.timeout * 3
        self.lease = timedelta(seconds=self.deadline + 30)
        self._wake = asyncio.Event()
        self._inflight: dict[asyncio.Task[None], DeliveryId] = {}
        self._pruned_at: float | None = None

    def wake(self) -> None:
        """A delivery was enqueued: look at the outbox now, not at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        if self.store.db.on_loop:  # the only instance on this file: a killed run's leases
            released = await self.store.outbox.release()
            if released:
                log.info("notifications: %d delivery(ies) left by a stopped run, resent", released)
        try:
            while True:
                self._wake.clear()
                await self._claim()
                await self._prune()
                await self._wait()
        finally:
            await self._stop()

    async def _claim(self) -> None:
        free = self.settings.concurrency - len(self._inflight)
        if free <= 0:
            return
        now = self.clock.now()
        claimed = await self.store.outbox.claim(
            instance=self.instance, now=now, until=now + self.lease, limit=free
        )
        for delivery in claimed:
            task = asyncio.create_task(
                self._guarded(delivery), name=f"notification delivery {delivery.id}"
            )
            self._inflight[task] = delivery.id
            task.add_done_callback(self._inflight.pop)

    async def _wait(self) -> None:
        """Until a delivery is enqueued, one in flight ends, the next retry is due, or
        ``poll`` passes (for what other instances enqueue)."""
        pause = self.settings.poll
        due = await self.store.outbox.next_due()
        if due is not None:
            pause = min(pause, max(0.0, (due - self.clock.now()).total_seconds()))
        wake = asyncio.create_task(self._wake.wait())
        tick = asyncio.create_task(self.clock.sleep(pause))
        try:
            await asyncio.wait({wake, tick, *self._inflight}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (wake, tick):
                task.cancel()

    async def _stop(self) -> None:
        """Cancel the tries under way and give their rows back at once."""
        tasks = list(self._inflight)
        ids = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        if ids:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.store.outbox.release(ids=ids, instance=self.instance))

    async def _prune(self) -> None:
        now = self.clock.monotonic()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        before = self.clock.now() - timedelta(seconds=self.settings.keep)
        pruned = await self.store.outbox.prune(before=before)
        if pruned:
            log.info("notifications: forgot %d delivery(ies) ended before %s", pruned, before)

    async def _guarded(self, delivery: Delivery) -> None:
        try:
            await self.deliver(delivery)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the store failed: the lease runs out, another try follows
            log.error(
                "notifications: delivery %s could not be recorded (%s); it is tried again "
                "once its lease ends",
                delivery.id,
                type(exc).__name__,
            )

    async def deliver(self, delivery: Delivery) -> None:
        """One try of one delivery, and its outcome in the outbox and the metrics."""
        notification = await self.store.notifications.find(delivery.notification_id)
        if notification is None:  # deleted since: its rows went with it, or go now
            await self.store.outbox.drop(delivery.id)
            return
        attempt = delivery.attempts + 1
        try:
            sender = self.senders[notification.type]
            async with asyncio.timeout(self.deadline):
                await sender.send(notification, delivery, self.context)
        except DeliveryFailed as exc:
            await self._failed(notification, delivery, attempt, exc.message, exc.permanent)
        except TimeoutError:
            text = f"no answer within {format_duration(self.deadline)}"
            await self._failed(notification, delivery, attempt, text, False)
        except Exception as exc:  # a sender's bug: kept off the log's traceback (secrets)
            text = f"internal error ({type(exc).__name__}: {exc})"
            await self._failed(notification, delivery, attempt, text, False)
        else:
            await self.store.outbox.delivered(delivery.id, attempts=attempt, now=self.clock.now())
            self.metrics.notifications.labels(notification.name, "delivered").inc()
            log.info(
                "notification %s: execution %s delivered (try %d)",
                notification.name,
                delivery.execution_id,
                attempt,
            )

    async def _failed(
        self,
        notification: Notification,
        delivery: Delivery,
        attempt: int,
        error: str,
        permanent: bool,
    ) -> None:
        error = redact(error, secrets_of(notification))[:1000]
        now = self.clock.now()
        last = permanent or attempt >= self.settings.attempts
        if last:
            await self.store.outbox.failed(delivery.id, attempts=attempt, error=error, now=now)
            self.metrics.notifications.labels(notification.name, "failed").inc()
            why = "no retry can change this" if permanent else f"{attempt} tries failed"
            log.warning(
                "notification %s: execution %s not delivered, given up (%s): %s",
                notification.name,
                delivery.execution_id,
                why,
                error,
            )
            return
        delay = retry_delay(attempt, first=self.settings.backoff, cap=self.settings.max_backoff)
        at: datetime = now + timedelta(seconds=delay)
        await self.store.outbox.retry(delivery.id, attempts=attempt, error=error, at=at, now=now)
        self.metrics.notifications.labels(notification.name, "retrying").inc()
        log.warning(
            "notification %s: execution %s not delivered (try %d of %d): %s; next try in %s",
            notification.name,
            delivery.execution_id,
            attempt,
            self.settings.attempts,
            error,
            format_duration(delay),
        )


async def refresh_metrics(store: Store, metrics: Metrics) -> None:
    """The outbox depth gauge, per notification, from the store (for every instance's
    deliveries); left out, not zero, when the store cannot be read."""
    try:
        counts = await store.outbox.counts()
        names = {n.name for n in await store.notifications.all()}
    except Exception as exc:
        metrics.outbox_depth.clear()
        log.warning(
            "notifications: the outbox cannot be read for /metrics (%s)", type(exc).__name__
        )
        return
    names |= {name for name, _status in counts}
    metrics.outbox_depth.clear()
    for name in sorted(names):
        metrics.outbox_depth.labels(name).set(counts.get((name, "pending"), 0))
