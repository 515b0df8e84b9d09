"""A rolling upgrade that scalehook drives itself, batch by batch, for engines without
one of their own (local processes, plain Docker). Swarm does not use this: it has its
own update config.

An engine that wants it implements :class:`RollingEngine` (three small methods) and
answers ``Backend.upgrade`` with :func:`rolling_upgrade`. The rules:

- replace ``batch_size`` replicas at a time, and wait ``batch_interval`` between
  batches; with ``start_first`` the new replicas start before the old ones stop;
- a batch counts only when its new replicas are ready within ``health_timeout``;
- on failure roll back to the previous image, batch by batch the same way (or pause);
- obey the rollout's control: a paused rollout finishes the batch under way and holds
  before the next one; ``cancel`` and ``rollback`` stop the wait between batches or the
  batch under way (the engine leaves each replica on one version), then end
  ``cancelled`` or roll back;
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

import asyncio
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypeVar

from scalehook.backends.base import (
    Command,
    Phase,
    Progress,
    Replica,
    RolloutControl,
    RolloutEvent,
    Unsteered,
    UpgradeResult,
    UpgradeStrategy,
)
from scalehook.domain.images import InvalidImage, parse_image
from scalehook.loops.clock import Clock

T = TypeVar("T")


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


class _Commanded:
    """The work was stopped: the rollout was given a command."""


COMMANDED = _Commanded()


@dataclass(frozen=True, slots=True)
class _Halt:
    """A roll stopped by an operator's command."""

    command: Command


async def rolling_upgrade(
    engine: RollingEngine,
    *,
    service: str,
    image: str,
    previous: str | None,
    strategy: UpgradeStrategy,
    progress: Progress,
    clock: Clock,
    control: RolloutControl | None = None,
) -> UpgradeResult:
    """Roll ``service`` onto ``image`` through ``engine``, waiting between batches on
    ``clock`` and obeying ``control``; see the module docstring."""
    rig = _Rig(engine, clock, control or Unsteered(), service, strategy, progress)
    # A push of the running tag (a rebuild) replaces every replica even though the
    # image name does not change.
    redeploy = previous is not None and _same_tag(previous, image)
    starts_on = previous  # what the service's new replicas run (set_image)
    outcome = await _roll(rig, image, "rolling", redeploy)
    if outcome is None:
        await engine.set_image(service=service, image=image)
        starts_on = image
        outcome = await _roll(rig, image, "rolling", False)
        if outcome is None:
            count = len(await engine.members(service=service))
            return UpgradeResult("upgraded", f"{count} replica(s) run {show(image)}")
    if isinstance(outcome, _Halt) and outcome.command == "cancel":
        return await _cancelled(engine, service, image, previous, starts_on)
    by_hand = isinstance(outcome, _Halt)
    failure = "asked by hand" if isinstance(outcome, _Halt) else outcome
    if previous is None:
        return UpgradeResult("failed", failure)
    if strategy.on_failure == "pause" and not by_hand:
        members = await engine.members(service=service)
        on_new = sum(1 for m in members if same_image(m.image, image))
        return UpgradeResult(
            "paused",
            f"paused: {failure}; {on_new} of {len(members)} replica(s) run {show(image)}, "
            f"the others {show(previous)}; new replicas start on {show(previous)}",
        )
    await progress(RolloutEvent("rolling_back", f"rolling back to {show(previous)}: {failure}"))
    await engine.set_image(service=service, image=previous)
    back = await _roll(rig, previous, "rolling_back", False)
    if back is None:
        return UpgradeResult("rolled_back", f"rolled back to {show(previous)}: {failure}")
    if isinstance(back, _Halt):  # a cancel: a rollback is not asked for twice
        return await _cancelled(engine, service, previous, image, previous, during="the rollback")
    return UpgradeResult(
        "failed", f"{failure}; the rollback to {show(previous)} failed too: {back}"
    )


async def _cancelled(
    engine: RollingEngine,
    service: str,
    image: str,
    other: str | None,
    starts_on: str | None,
    *,
    during: str = "",
) -> UpgradeResult:
    """Where a cancelled roll onto ``image`` left the replicas (each on one version)."""
    members = await engine.members(service=service)
    on_new = sum(1 for m in members if same_image(m.image, image))
    text = f"cancelled by hand{f' during {during}' if during else ''}: "
    text += f"{on_new} of {len(members)} replica(s) run {show(image)}"
    if other is not None and on_new < len(members):
        text += f", the others {show(other)}"
    if starts_on is not None:
        text += f"; new replicas start on {show(starts_on)}"
    return UpgradeResult("cancelled", text)


async def unless_commanded(
    control: RolloutControl, work: Callable[[], Awaitable[T]]
) -> T | _Commanded:
    """Run ``work`` unless the rollout is given a command first; a command given while
    it runs cancels it (the engine leaves each replica on one version) and wins."""
    if control.command is not None:
        return COMMANDED
    task = asyncio.ensure_future(work())
    waiter = asyncio.ensure_future(control.commanded())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:  # superseded, or scalehook stops: the work stops too
        waiter.cancel()
        await _stop(task)
        raise
    waiter.cancel()
    if task.done():
        return task.result()
    await _stop(task)
    return COMMANDED


async def _stop(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` and wait until it has let go (its error, if any, is dropped: the
    caller stops it because something else won)."""
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled():
        task.exception()


@dataclass(frozen=True, slots=True)
class _Rig:
    """What every roll of one rollout works with."""

    engine: RollingEngine
    clock: Clock
    steer: RolloutControl
    service: str
    strategy: UpgradeStrategy
    progress: Progress


async def _roll(rig: _Rig, image: str, phase: Phase, redeploy: bool) -> str | _Halt | None:
    """Replace, batch by batch, every member not on ``image`` or not ready (and with
    ``redeploy`` every member present at the start). The reason of the first failing
    batch, a command that stopped it, or None.

    Before each batch a paused rollout holds (the batch under way finishes first); a
    command stops the wait between batches, or the batch under way."""
    engine, steer, service, strategy, progress = (
        rig.engine,
        rig.steer,
        rig.service,
        rig.strategy,
        rig.progress,
    )
    members = await engine.members(service=service)
    pending = {m.id for m in members if redeploy or not m.ready or not same_image(m.image, image)}
    size = max(1, strategy.batch_size)
    batches = math.ceil(len(pending) / size)
    done = 0
    if pending:
        text = f"{len(pending)} replica(s) to roll onto {show(image)}: {batches} batch(es)"
        await progress(RolloutEvent(phase, text, batches=batches))

    async def stale() -> list[Replica]:
        current = await engine.members(service=service)
        return [m for m in current if m.id in pending or not same_image(m.image, image)]

    while (await stale())[:size]:
        if done:
            slept = await unless_commanded(steer, partial(rig.clock.sleep, strategy.batch_interval))
            if isinstance(slept, _Commanded) and steer.command is not None:
                return _Halt(steer.command)
        if steer.paused and steer.command is None:
            await steer.hold(f"before batch {done + 1}/{max(batches, done + 1)}")
        if steer.command is not None:
            return _Halt(steer.command)
        batch = (await stale())[:size]
        if not batch:
            break
        done += 1
        batches = max(batches, done)
        old = tuple(m.id for m in batch)
        result = await unless_commanded(
            steer,
            partial(
                engine.replace_replicas,
                service=service,
                replicas=old,
                image=image,
                start_first=strategy.start_first,
                ready_timeout=strategy.health_timeout,
            ),
        )
        pending.difference_update(old)
        if isinstance(result, _Commanded):
            command: Command = steer.command or "cancel"
            await progress(
                RolloutEvent(phase, f"batch {done}/{batches} stopped: {command} asked by hand")
            )
            return _Halt(command)
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
