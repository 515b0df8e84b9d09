"""Watching a Swarm rolling update until Swarm settles it, and reporting it as it goes.

Swarm rolls the tasks itself (``update.py`` writes the config and the image); this
reads the service's ``UpdateStatus`` and its tasks every half second and turns them
into rollout events: a batch per ``batch_size`` tasks running the new spec, the
rollback when Swarm starts one, and why (the failed task's error, or its container's
last health check when this engine runs it). It adds the one gate Swarm lacks: a new
task still ``starting`` after ``health_timeout`` (a check that keeps failing with
retries to spare) makes it ask Swarm to roll back, or end ``paused``.

It obeys the rollout's control the way Swarm allows (``update.py`` says why):

- **pause**: the update config's delay becomes ``HOLD``; Swarm's workers finish the task
  they have (each may take one more), then wait. Reported as holding once no task of
  the new spec is on its way and every slot runs a task. **resume** writes the
  strategy's config again.
- **rollback**: Swarm's own rollback (``?rollback=previous``), or, once a pause made the
  spec before this one the same image, an update of its own to the previous image.
- **cancel**: Swarm cannot stop an update and leave it where it is (every task is
  rolled onto the spec, sooner or later), so a cancel rolls every task back to the
  previous image the same way, and ends ``cancelled``.
- During Swarm's rollback nothing can be held or stopped: those are refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from scalehook.backends.base import (
    Command,
    Phase,
    Progress,
    RolloutControl,
    RolloutEvent,
    Unsteered,
    UpgradeResult,
    UpgradeStrategy,
)
from scalehook.backends.engine import JSON
from scalehook.backends.engine.readiness import Readiness, readiness
from scalehook.backends.rolling import same_image, show
from scalehook.backends.swarm.services import Services, container_of
from scalehook.backends.swarm.update import (
    ROLLBACK_STATES,
    Observation,
    by_tag,
    declared,
    held,
    observe,
    released,
    rollback_restores,
    rolled_back_to,
    slot_of,
    with_config,
    with_hold,
)
from scalehook.errors import BackendError
from scalehook.loops.clock import Clock

WATCH_EVERY = 0.5
UPDATE_ATTEMPTS = 5
_EVERYTHING: tuple[Command | Literal["pause"], ...] = ("pause", "cancel", "rollback")
_IN_ROLLBACK = "Swarm is rolling the service back: its rollback cannot be held or stopped"


class UpdateWatch:
    """Watches one update of one service (``Backend.upgrade`` on Swarm, after the issue)."""

    def __init__(self, services: Services, clock: Clock) -> None:
        self._services = services
        self._clock = clock

    async def watch(
        self,
        ident: str,
        name: str,
        *,
        image: str,
        force: int,
        previous: str | None,
        strategy: UpgradeStrategy,
        progress: Progress,
        phase: Phase,
        control: RolloutControl | None = None,
    ) -> UpgradeResult:
        steer = control or Unsteered()
        runs = by_tag(image)
        size = max(1, strategy.batch_size)
        reported: list[str] = []
        rolling_back = phase == "rolling_back"
        reason = ""
        asked: Command | None = None  # the command this watch obeyed
        planned = rolling_back
        starting: dict[str, float] = {}  # task id → when first seen starting
        while True:
            found = await self._services.get(ident)
            seen = observe(
                found,
                await self._services.tasks(service=ident, current=False),
                image=runs,
                force=force,
            )
            if not planned:
                planned = True
                batches = max(1, -(-seen.total // size))
                text = f"{seen.total} task(s) to roll onto {show(image)}: {batches} batch(es)"
                await progress(RolloutEvent("rolling", text, batches=batches))
            if seen.state in ("paused", *ROLLBACK_STATES) and not reason:
                reason = await self._why(seen, name, image)
            if seen.state in ROLLBACK_STATES and not rolling_back:
                rolling_back = True
                text = f"Swarm rolls back to {_shown(previous)}: {reason}"
                await progress(RolloutEvent("rolling_back", text))
            if rolling_back:
                steer.refuse(_EVERYTHING, _IN_ROLLBACK)
            turn_back = False
            if not rolling_back and previous is not None:
                if seen.state in ("updating", "") and steer.command is not None and asked is None:
                    asked, reason, turn_back = steer.command, "asked by hand", True
                elif seen.state in ("updating", ""):
                    await self._steer(found, seen, steer, strategy, progress, name, image)
                reported = await self._batches(seen, reported, size, image, progress)
                starting = {
                    str(t["ID"]): starting.get(str(t["ID"]), self._clock.monotonic())
                    for t in seen.starting
                }
                late = [
                    t
                    for t in seen.starting
                    if self._clock.monotonic() - starting[str(t["ID"])] > strategy.health_timeout
                ]
                if late and seen.state in ("updating", "") and not turn_back:
                    reason = await self._late(late, name, image, strategy.health_timeout)
                failing = bool(reason) and seen.state in ("updating", "") and not turn_back
                if failing and strategy.on_failure == "pause":
                    return UpgradeResult(
                        "paused",
                        f"paused: {reason}; {len(seen.updated)} of {seen.total} task(s) "
                        f"run {show(image)}; Swarm goes on waiting for the task, which "
                        "has no time limit of its own",
                    )
                # Swarm paused on a failure after a pause of ours: scalehook rolls back
                ours = seen.state == "paused" and not rollback_restores(found)
                turn_back = turn_back or failing or (ours and strategy.on_failure == "rollback")
            if turn_back:
                assert previous is not None
                back = await self._turn_back(found, name, previous, strategy, progress, reason)
                if back is not None:
                    return _as_asked(back, asked, previous)
                continue  # Swarm rolls back: watch it
            result = _settled(
                seen, found, image, previous=previous, rolling_back=rolling_back, reason=reason
            )
            if result is not None:
                if held(found.get("Spec") or {}):  # leave no 30-day delay behind
                    await self._write(
                        ident, name, lambda spec: with_config(spec, strategy), "release"
                    )
                return _as_asked(result, asked, previous)
            await self._clock.sleep(WATCH_EVERY)

    async def _steer(
        self,
        found: JSON,
        seen: Observation,
        steer: RolloutControl,
        strategy: UpgradeStrategy,
        progress: Progress,
        name: str,
        image: str,
    ) -> None:
        """Hold the update while paused, let it go on once resumed (see the docstring)."""
        spec = found.get("Spec") or {}
        ident = str(found["ID"])
        if steer.paused and not held(spec):
            await self._write(ident, name, lambda s: with_hold(s, strategy), "pause")
            await progress(
                RolloutEvent(
                    "rolling",
                    "pausing: Swarm's update delay is now 30 days; its workers finish the "
                    "task they have (each may take one more), then wait",
                )
            )
        elif not steer.paused and held(spec):
            await self._write(ident, name, lambda s: released(s, strategy), "resume")
            await steer.holding(None)
            await progress(
                RolloutEvent("rolling", "resumed: Swarm's update delay is the strategy's again")
            )
        elif steer.paused and seen.moving == 0 and len(seen.updated) + seen.others >= seen.total:
            on = f"{len(seen.updated)} of {seen.total} task(s)"
            await steer.holding(f"with {on} on {show(image)}")

    async def _turn_back(
        self,
        found: JSON,
        name: str,
        previous: str,
        strategy: UpgradeStrategy,
        progress: Progress,
        reason: str,
    ) -> UpgradeResult | None:
        """Roll the update back: Swarm's own rollback (None: the caller watches it), or,
        when the spec before this one runs this very image (a pause wrote it), an update
        to ``previous`` of its own, watched here to its end."""
        ident = str(found["ID"])
        if rollback_restores(found):
            await self._rollback(ident, name)
            return None
        text = (
            f"rolling back to {show(previous)} with an update of its own ({reason}): since "
            "the pause, Swarm's previous spec is this one's image"
        )
        await progress(RolloutEvent("rolling_back", text))
        written = await self._write(
            ident, name, lambda spec: rolled_back_to(spec, strategy, previous), "roll back"
        )
        template = (written.get("Spec") or {}).get("TaskTemplate") or {}
        back = await self.watch(
            ident,
            name,
            image=previous,
            force=int(template.get("ForceUpdate") or 0),
            previous=None,
            strategy=strategy,
            progress=progress,
            phase="rolling_back",
        )
        if back.outcome == "upgraded":
            return UpgradeResult("rolled_back", f"rolled back to {show(previous)}: {reason}")
        if back.outcome == "paused":
            return UpgradeResult("failed", f"{reason}; the rollback to {show(previous)} paused")
        return back

    async def _write(
        self, ident: str, name: str, change: Callable[[JSON], JSON], doing: str
    ) -> JSON:
        """Write ``change`` of the spec just read, read again while the version moved on;
        the service as written."""
        for _ in range(UPDATE_ATTEMPTS):
            found = await self._services.get(ident)
            new = change(found.get("Spec") or {})
            if await self._services.write(found, new, name=name, doing=doing) is not None:
                return await self._services.get(ident)
        raise BackendError(f"cannot {doing} the update of {name}: it kept changing under us")

    async def _why(self, seen: Observation, name: str, image: str) -> str:
        """Why the update failed: the failed task's error, or its container's last
        health check when this engine has the container; else Swarm's message."""
        task = seen.failed
        if task is None:
            return seen.message
        status = task.get("Status") or {}
        health = await self._health(task)
        detail = health.detail if health is not None else str(status.get("Err") or "")
        detail = detail or str(status.get("Message") or status.get("State") or "it ended")
        return f"task {slot_of(task, name)} ({show(image)}) failed: {detail}"

    async def _late(self, late: list[JSON], name: str, image: str, timeout: float) -> str:
        """Why a task still starting after ``timeout`` fails the update, or '' while
        Swarm acts itself (its container is already unhealthy or gone: Swarm fails it)."""
        for task in late:
            found = await self._health(task)
            if found is not None and found.verdict == "failed":
                continue
            detail = "starting" if found is None else found.detail
            return (
                f"task {slot_of(task, name)} ({show(image)}) was not healthy within "
                f"{timeout:g}s ({detail})"
            )
        return ""

    async def _health(self, task: JSON) -> Readiness | None:
        """What the task's container says of its state, when this engine has it."""
        container = container_of(task)
        if not container:
            return None
        record = await self._services.container(container)
        return None if record is None else readiness(record)

    async def _rollback(self, ident: str, name: str) -> None:
        """Ask Swarm to roll the update back, as ``docker service rollback`` does."""
        for _ in range(UPDATE_ATTEMPTS):
            found = await self._services.get(ident)
            spec = found.get("Spec") or {}
            written = await self._services.write(
                found, spec, name=name, doing="roll back", rollback=True
            )
            if written is not None:
                return
        raise BackendError(f"cannot roll {name} back: it kept changing under us")

    @staticmethod
    async def _batches(
        seen: Observation, reported: list[str], size: int, image: str, progress: Progress
    ) -> list[str]:
        """Report each ``size`` more tasks running the new spec as a batch (Swarm
        pipelines its workers, so this is the count, not lock-step batches)."""
        batches = max(1, -(-seen.total // size))
        fresh = [slot for slot in seen.updated if slot not in reported]
        while fresh and (len(fresh) >= size or len(reported) + len(fresh) >= seen.total):
            batch, fresh = fresh[:size], fresh[size:]
            reported = [*reported, *batch]
            number = -(-len(reported) // size)
            await progress(
                RolloutEvent(
                    "rolling",
                    f"batch {number}/{batches} ready: {', '.join(batch)} on {show(image)}",
                    batch=number,
                    batches=batches,
                    replaced=tuple(batch),
                    started=tuple(batch),
                    ready=True,
                )
            )
        return reported


def _shown(image: str | None) -> str:
    return "the previous image" if image is None else show(image)


def _as_asked(result: UpgradeResult, asked: Command | None, previous: str | None) -> UpgradeResult:
    """A cancel is a rollback on Swarm (see the docstring): say so, as ``cancelled``."""
    if asked != "cancel" or result.outcome != "rolled_back":
        return result
    return UpgradeResult(
        "cancelled",
        "cancelled by hand: Swarm cannot stop an update where it is, so every task went "
        f"back to {_shown(previous)}",
    )


def _settled(
    seen: Observation,
    found: JSON,
    image: str,
    *,
    previous: str | None,
    rolling_back: bool,
    reason: str,
) -> UpgradeResult | None:
    """The outcome once Swarm has settled the update, else None. Rolling back with no
    ``previous``, ``image`` is the image rolled back to, by Swarm's rollback (resumed
    after a restart) or by an update of its own."""
    spec = found.get("Spec") or {}
    runs = declared(spec)
    on_new = f"{len(seen.updated)} of {seen.total} task(s) run {show(image)}"
    if previous is not None:
        on_new += f", {seen.others} {show(previous)}"
    if seen.state == "rollback_completed":
        if same_image(runs, image):  # this call rolls back: Swarm did it
            return UpgradeResult("upgraded", f"{seen.total} task(s) run {show(image)}")
        return UpgradeResult("rolled_back", f"rolled back to {_shown(runs)}: {reason}")
    if seen.state == "rollback_paused":
        return UpgradeResult("failed", f"the rollback to {_shown(runs)} paused: {seen.message}")
    if seen.state in ROLLBACK_STATES or (rolling_back and previous is not None):
        return None
    if not same_image(runs, image):
        return UpgradeResult(
            "failed",
            f"the service was updated to {_shown(runs)} meanwhile, not by this rollout",
        )
    if seen.state == "paused":
        return UpgradeResult(
            "paused",
            f"paused: {reason}; {on_new}; Swarm holds the update until the next push "
            "(or docker service update --rollback)",
        )
    if seen.state == "completed" or (seen.state == "" and len(seen.updated) == seen.total):
        return UpgradeResult("upgraded", f"{seen.total} task(s) run {show(image)}")
    return None
