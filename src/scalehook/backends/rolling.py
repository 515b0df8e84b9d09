"""A rolling upgrade that scalehook drives itself, batch by batch, for engines without
one of their own (local processes, plain Docker). Swarm does not use this: it has its
own update config.

An engine that wants it implements :class:`RollingEngine` (three small methods) and
answers ``Backend.upgrade`` with :func:`rolling_upgrade`. The rules:

- replace ``batch_size`` replicas at a time, and wait ``batch_interval`` between
  batches; with ``start_first`` the new replicas start before the old ones stop;
- a batch counts only when its new replicas are ready within ``health_timeout``;
- on failure roll back to the previous image, batch by batch the same way (or pause);
- the service's own image (what a scale-up or a recreated replica runs) changes only
  once every replica runs the new one. Until then it stays the previous image, so a
  restart in the middle brings replicas back on a version known to work, and the
  resumed rollout replaces them again.

Each round re-reads the replicas, so a scale up or down in the middle is absorbed: a
replica that does not run the target image is replaced, whenever it appeared. A member
that runs the target image but is not ready when a roll begins is replaced too: on an
engine whose replicas outlive scalehook (plain Docker), a batch cut by a restart may
have left one that no health gate has passed yet.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from scalehook.backends.base import (
    Phase,
    Progress,
    Replica,
    RolloutEvent,
    UpgradeResult,
    UpgradeStrategy,
)
from scalehook.domain.images import InvalidImage, parse_image
from scalehook.loops.clock import Clock


@dataclass(frozen=True, slots=True)
class Replacement:
    """What one batch did: replicas started and stopped, and whether the new ones
    became ready in time (``reason`` says why not)."""

    started: tuple[str, ...]
    stopped: tuple[str, ...]
    ready: bool
    reason: str = ""


class RollingEngine(Protocol):
    """What an engine offers so that scalehook can roll its replicas itself."""

    async def members(self, *, service: str) -> list[Replica]:
        """The replicas that make up the desired count (not ones being stopped, nor
        ones a batch started and has not kept yet), each with the image it runs."""
        ...

    async def set_image(self, *, service: str, image: str) -> None:
        """Durably make ``image`` what the service's new replicas run."""
        ...

    async def replace_replicas(
        self,
        *,
        service: str,
        replicas: Sequence[str],
        image: str,
        start_first: bool,
        ready_timeout: float,
    ) -> Replacement:
        """Replace ``replicas`` by as many running ``image``, and wait up to
        ``ready_timeout`` for the new ones to be ready.

        ``start_first``: start the new ones; when they are ready stop the old ones,
        else stop the new ones and keep the old. Otherwise: stop the old ones, then
        start the new ones, which stay (ready or not) for a rollback to replace.
        Cancelled while waiting, it stops new replicas it has not kept.
        """
        ...


#: where an engine keeps the reference a rollout pushed (with its digest), beside the
#: tag it runs
IMAGE_LABEL = "scalehook.image"


def show(image: str) -> str:
    """An image as people write it (``acme/app:2``)."""
    try:
        return parse_image(image).familiar()
    except InvalidImage:
        return image


def same_image(a: str | None, b: str) -> bool:
    if a is None:
        return False
    try:
        return parse_image(a) == parse_image(b)
    except InvalidImage:
        return a == b


def _same_tag(a: str | None, b: str) -> bool:
    if a is None:
        return False
    try:
        one, two = parse_image(a), parse_image(b)
    except InvalidImage:
        return a == b
    return (one.name, one.tag) == (two.name, two.tag)


async def rolling_upgrade(
    engine: RollingEngine,
    *,
    service: str,
    image: str,
    previous: str | None,
    strategy: UpgradeStrategy,
    progress: Progress,
    clock: Clock,
) -> UpgradeResult:
    """Roll ``service`` onto ``image`` through ``engine``, waiting between batches on
    ``clock``; see the module docstring."""
    # A push of the running tag (a rebuild) replaces every replica even though the
    # image name does not change.
    redeploy = previous is not None and _same_tag(previous, image)
    failure = await _roll(engine, clock, service, image, strategy, progress, "rolling", redeploy)
    if failure is None:
        await engine.set_image(service=service, image=image)
        failure = await _roll(engine, clock, service, image, strategy, progress, "rolling", False)
        if failure is None:
            count = len(await engine.members(service=service))
            return UpgradeResult("upgraded", f"{count} replica(s) run {show(image)}")
    if previous is None:
        return UpgradeResult("failed", failure)
    if strategy.on_failure == "pause":
        members = await engine.members(service=service)
        on_new = sum(1 for m in members if same_image(m.image, image))
        return UpgradeResult(
            "paused",
            f"paused: {failure}; {on_new} of {len(members)} replica(s) run {show(image)}, "
            f"the others {show(previous)}; new replicas start on {show(previous)}",
        )
    await progress(RolloutEvent("rolling_back", f"rolling back to {show(previous)}: {failure}"))
    await engine.set_image(service=service, image=previous)
    back = await _roll(engine, clock, service, previous, strategy, progress, "rolling_back", False)
    if back is None:
        return UpgradeResult("rolled_back", f"rolled back to {show(previous)}: {failure}")
    return UpgradeResult(
        "failed", f"{failure}; the rollback to {show(previous)} failed too: {back}"
    )


async def _roll(
    engine: RollingEngine,
    clock: Clock,
    service: str,
    image: str,
    strategy: UpgradeStrategy,
    progress: Progress,
    phase: Phase,
    redeploy: bool,
) -> str | None:
    """Replace, batch by batch, every member not on ``image`` or not ready (and with
    ``redeploy`` every member present at the start). The reason of the first failing
    batch, or None."""
    members = await engine.members(service=service)
    pending = {m.id for m in members if redeploy or not m.ready or not same_image(m.image, image)}
    size = max(1, strategy.batch_size)
    batches = math.ceil(len(pending) / size)
    done = 0

    async def stale() -> list[Replica]:
        current = await engine.members(service=service)
        return [m for m in current if m.id in pending or not same_image(m.image, image)]

    while batch := (await stale())[:size]:
        if done:
            await clock.sleep(strategy.batch_interval)
            batch = (await stale())[:size]
            if not batch:
                break
        done += 1
        batches = max(batches, done)
        old = tuple(m.id for m in batch)
        result = await engine.replace_replicas(
            service=service,
            replicas=old,
            image=image,
            start_first=strategy.start_first,
            ready_timeout=strategy.health_timeout,
        )
        pending.difference_update(old)
        message = (
            f"batch {done}/{batches} {'ready' if result.ready else 'failed'}: "
            f"{', '.join(old)} -> {', '.join(result.started) or 'nothing'} on {show(image)}"
        )
        if not result.ready:
            message += f": {result.reason}"
        await progress(
            RolloutEvent(
                phase,
                message,
                batch=done,
                batches=batches,
                replaced=old,
                started=result.started,
                ready=result.ready,
            )
        )
        if not result.ready:
            return f"batch {done}: {result.reason}"
    return None
