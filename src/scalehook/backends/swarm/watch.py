"""Watching a Swarm rolling update until Swarm settles it, and reporting it as it goes.

Swarm rolls the tasks itself (``update.py`` writes the config and the image); this
reads the service's ``UpdateStatus`` and its tasks every half second and turns them
into rollout events: a batch per ``batch_size`` tasks running the new spec, the
rollback when Swarm starts one, and why (the failed task's error, or its container's
last health check when this engine runs it). It adds the one gate Swarm lacks: a new
task still ``starting`` after ``health_timeout`` (a check that keeps failing with
retries to spare) makes it ask Swarm to roll back, or end ``paused``.
"""

from __future__ import annotations

from scalehook.backends.base import Phase, Progress, RolloutEvent, UpgradeResult, UpgradeStrategy
from scalehook.backends.engine import JSON
from scalehook.backends.engine.readiness import Readiness, readiness
from scalehook.backends.rolling import same_image, show
from scalehook.backends.swarm.services import Services, container_of
from scalehook.backends.swarm.update import (
    ROLLBACK_STATES,
    Observation,
    by_tag,
    declared,
    observe,
    slot_of,
)
from scalehook.errors import BackendError
from scalehook.loops.clock import Clock

WATCH_EVERY = 0.5
UPDATE_ATTEMPTS = 5


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
    ) -> UpgradeResult:
        runs = by_tag(image)
        size = max(1, strategy.batch_size)
        reported: list[str] = []
        rolling_back = phase == "rolling_back"
        reason = ""
        starting: dict[str, float] = {}  # task id → when first seen starting
        while True:
            found = await self._services.get(ident)
            seen = observe(
                found,
                await self._services.tasks(service=ident, current=False),
                image=runs,
                force=force,
            )
            if seen.state in ("paused", *ROLLBACK_STATES) and not reason:
                reason = await self._why(seen, name, image)
            if seen.state in ROLLBACK_STATES and not rolling_back:
                rolling_back = True
                text = f"Swarm rolls back to {_shown(previous)}: {reason}"
                await progress(RolloutEvent("rolling_back", text))
            if not rolling_back:
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
                if late and seen.state in ("updating", "") and previous is not None:
                    reason = await self._late(late, name, image, strategy.health_timeout)
                if reason and not rolling_back and seen.state in ("updating", ""):
                    if strategy.on_failure == "pause":
                        return UpgradeResult(
                            "paused",
                            f"paused: {reason}; {len(seen.updated)} of {seen.total} task(s) "
                            f"run {show(image)}; Swarm goes on waiting for the task, which "
                            "has no time limit of its own",
                        )
                    await self._rollback(ident, name)
            result = _settled(
                seen, found, image, previous=previous, rolling_back=rolling_back, reason=reason
            )
            if result is not None:
                return result
            await self._clock.sleep(WATCH_EVERY)

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


def _settled(
    seen: Observation,
    found: JSON,
    image: str,
    *,
    previous: str | None,
    rolling_back: bool,
    reason: str,
) -> UpgradeResult | None:
    """The outcome once Swarm has settled the update, else None."""
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
    if seen.state in ROLLBACK_STATES or rolling_back:
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
