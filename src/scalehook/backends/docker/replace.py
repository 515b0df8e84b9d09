"""One batch of a rolling upgrade on plain Docker: members replaced by containers of
another image.

A new container is a clone of the one it replaces (``clone.py``) with the new image,
a new replica number, and the replaced container's id in ``scalehook.replaces``:

- stop-first: create the new ones; stop the old ones and remove them (the new ones are
  the members from then on); start the new ones; wait until they are ready. They stay,
  ready or not, for a rollback to replace.
- start-first: create and start the new ones; once all are ready, stop and remove the
  old ones; if one is not ready in time, remove the new ones and keep the old.

Cancelled (a newer push took over, or scalehook stops), the engine calls under way are
let finish, then the batch is undone where it was not done: a new container whose old
one is still there is removed, and the old one started again if it was stopped; a new
container whose old one is gone is started. :func:`undo` does the same from the labels
alone, for a batch that a killed scalehook left behind.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from scalehook.backends.docker.clone import plan_replica
from scalehook.backends.docker.containers import Containers
from scalehook.backends.docker.groups import (
    GONE,
    REPLACES_LABEL,
    Container,
    Group,
)
from scalehook.backends.engine import EngineClient, EngineError, EngineNotFound
from scalehook.backends.engine.readiness import wait_ready
from scalehook.backends.rolling import IMAGE_LABEL, Replacement, show
from scalehook.errors import BackendError

log = logging.getLogger(__name__)

T = TypeVar("T")
Limit = Callable[[Awaitable[Any]], Awaitable[Any]]


class Batch:
    """One call of ``replace_replicas``: what it made, and the engine calls under way.
    ``before_stop`` is awaited before an old container is stopped (a balancer drains it)."""

    def __init__(
        self,
        ops: Containers,
        client: EngineClient,
        limit: Limit,
        *,
        before_stop: Callable[[Container], Awaitable[None]] | None = None,
    ) -> None:
        self._ops = ops
        self._client = client
        self._limit = limit
        self._before_stop = before_stop
        self._calls: set[asyncio.Future[Any]] = set()

    async def _call(self, work: Awaitable[T]) -> T:
        """An engine call that runs to its end even if the batch is cancelled meanwhile,
        so that undoing the batch sees everything it did."""
        future = asyncio.ensure_future(self._limit(work))
        self._calls.add(future)
        future.add_done_callback(self._calls.discard)
        result: T = await asyncio.shield(future)
        return result

    async def _each(self, work: Sequence[Awaitable[T]]) -> list[T]:
        return list(await asyncio.gather(*(self._call(w) for w in work)))

    async def replace(
        self,
        found: Group,
        old: Sequence[Container],
        *,
        image: str,
        runnable: str,
        start_first: bool,
        ready_timeout: float,
    ) -> Replacement:
        try:
            return await self._replace(
                found,
                old,
                image=image,
                runnable=runnable,
                start_first=start_first,
                ready_timeout=ready_timeout,
            )
        except BaseException:
            await to_the_end(self.undo(old))
            raise

    async def _replace(
        self,
        found: Group,
        old: Sequence[Container],
        *,
        image: str,
        runnable: str,
        start_first: bool,
        ready_timeout: float,
    ) -> Replacement:
        records = await asyncio.gather(*(self._ops.inspect(c.id) for c in old))
        present = [(c, r) for c, r in zip(old, records, strict=True) if r is not None]
        if not present:
            return Replacement(started=(), stopped=(), ready=True)
        images = await asyncio.gather(
            *(self._ops.image_config(str(record["Image"])) for _, record in present)
        )
        first = found.next_number
        plans = [
            plan_replica(
                record,
                name=f"{found.base_name}-{number}",
                image=runnable,
                number_label=found.number_label,
                number=number,
                labels={REPLACES_LABEL: container.id, IMAGE_LABEL: show(image)},
                keep_ports=not start_first,
                old_image=old_image,
            )
            for number, ((container, record), old_image) in enumerate(
                zip(present, images, strict=True), start=first
            )
        ]
        try:
            made = await self._each([self._ops.create(p) for p in plans])
        except EngineError as exc:
            raise exc.reworded(f"cannot create a replica of {image}: {exc.engine_text}") from exc
        new = dict(made)
        started = tuple(new.values())
        stopped = tuple(c.name for c, _ in present)
        shown = show(image)
        if start_first:
            ready, reason = await self._start(new, shown, ready_timeout)
            if not ready:
                await self.undo([c for c, _ in present])
                return Replacement(started=started, stopped=started, ready=False, reason=reason)
            await self._retire([c for c, _ in present])
            return Replacement(started=started, stopped=stopped, ready=True)
        await self._retire([c for c, _ in present])
        ready, reason = await self._start(new, shown, ready_timeout)
        return Replacement(started=started, stopped=stopped, ready=ready, reason=reason)

    async def _start(self, new: dict[str, str], shown: str, timeout: float) -> tuple[bool, str]:
        """Start the new containers and wait until they are ready; (ready, why not). One
        that cannot start (a release that cannot run) fails the batch."""
        results = await asyncio.gather(
            *(self._call(self._ops.start(c)) for c in new), return_exceptions=True
        )
        reasons = []
        for name, result in zip(new.values(), results, strict=True):
            if isinstance(result, EngineError):
                reasons.append(f"{name} ({shown}) did not start: {result.engine_text}")
            elif isinstance(result, BaseException):
                raise result
        if reasons:
            return False, "; ".join(reasons)
        return await wait_ready(self._ops.inspect, new, image=shown, timeout=timeout)

    async def _retire(self, old: Sequence[Container]) -> None:
        if self._before_stop is not None:
            await asyncio.gather(*(self._before_stop(c) for c in old))
        try:
            await self._each([self._ops.retire(c.id) for c in old])
        except EngineError as exc:
            raise exc.reworded(f"cannot stop a replica: {exc.engine_text}") from exc

    async def undo(self, old: Sequence[Container]) -> None:
        """Wait for the calls under way, then undo what this batch did not finish."""
        if self._calls:
            await asyncio.wait(set(self._calls))
        ids = {c.id for c in old}
        await undo(self._ops, self._client, lambda new, replaced: replaced in ids)


async def undo(
    ops: Containers, client: EngineClient, which: Callable[[str, str], bool]
) -> list[str]:
    """Undo unfinished replacements, found by their labels: ``which(new id, replaced id)``
    picks them. Returns what was done, for the record; failures are logged, not raised
    (the next rollout of the service tries again)."""
    done: list[str] = []
    try:
        rows = await client.get(
            "/containers/json",
            params={"all": "1", "filters": json.dumps({"label": [REPLACES_LABEL]})},
        )
    except BackendError as exc:
        log.error("cannot look for unfinished replacements: %s", exc.message)
        return done
    for row in rows:
        new = str(row["Id"])
        replaced = str((row.get("Labels") or {}).get(REPLACES_LABEL) or "")
        if not replaced or not which(new, replaced):
            continue
        name = str((row.get("Names") or [f"/{new[:12]}"])[0]).lstrip("/")
        try:
            old = await ops.inspect(replaced)
            state = str(((old or {}).get("State") or {}).get("Status") or "")
            if old is not None and state not in GONE:
                await ops.remove(new)
                text = f"removed {name}, which had not replaced {str(old['Name']).lstrip('/')}"
                if state != "running":
                    await ops.start(replaced)
                    text += " (started again)"
                done.append(text)
            elif row.get("State") == "created":
                await ops.start(new)
                done.append(f"started {name}, which had replaced a removed replica")
        except EngineNotFound:
            continue
        except BackendError as exc:
            log.error("cannot undo the replacement by %s: %s", name, exc.message)
    return done


async def to_the_end(work: Awaitable[T]) -> T:
    """Await ``work`` to its end even if this task is cancelled meanwhile; a cancel that
    came in is raised after. Undoing a batch must not be cut half-way."""
    future = asyncio.ensure_future(work)
    cancelled = False
    while True:
        try:
            result: T = await asyncio.shield(future)
            break
        except asyncio.CancelledError:
            if future.done():
                raise
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return result
