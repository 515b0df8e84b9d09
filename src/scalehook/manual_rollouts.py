"""Upgrades and rollbacks by hand (``POST /v1/services/{name}/upgrade`` and ``/rollback``),
through the very path a push takes: a plan, ``executor.rollouts.start``, the engine's
rolling, health-gated upgrade, a revision and an execution recorded with driver ``api``.

- **Upgrade** to an image of the repository the service runs, any tag (or digest): no
  tag policy, it is by hand. Like a push, it supersedes a rollout running on the
  service (the answer says which). The image it runs, or is being rolled to, already:
  a recorded ``noop``.
- **Rollback** to revision ``n`` (default: the newest that succeeded with another image
  than the one it runs, ``domain/revisions.rollback_target``). Refused (409) while a
  rollout runs on the service: cancel that one, or roll it back, instead. A revision it
  does not have is 404 naming ``revision``. A rollback to a resources revision (or to
  one whose image runs now, with limits changed after it) puts back the limits the
  service had at it, through ``resource_changes.change_resources`` (200, done); one to
  a resources revision made under another image than now is 409 (``revisions.mixed``).
"""

from __future__ import annotations

from typing import Any

from scalehook.backends.rolling import show
from scalehook.domain.executions import Execution
from scalehook.domain.images import ImageRef, InvalidImage, parse_image
from scalehook.domain.resources import ResourcesChange, resources_of
from scalehook.domain.revisions import (
    Refusal,
    Revision,
    limits_at,
    mixed,
    restores_limits,
    rollback_target,
)
from scalehook.domain.upgrades import UpgradePlan
from scalehook.drivers.upgrade_service import RolloutSettings
from scalehook.errors import Conflict, InvalidRequest, RevisionNotFound
from scalehook.executor import Executor
from scalehook.recording import Audit
from scalehook.resource_changes import change_resources
from scalehook.store import Transaction


async def upgrade_by_hand(
    executor: Executor, ref: str, image: str, settings: RolloutSettings, audit: Audit
) -> tuple[Execution, int]:
    """Start rolling ``ref`` onto ``image``; the execution and the HTTP status (202, or
    200 for a recorded ``noop``)."""
    try:
        wanted = parse_image(image)
    except InvalidImage as exc:
        raise InvalidRequest(f"image: {exc}", field="image") from exc
    if wanted.tag is None and wanted.digest is None:
        raise InvalidRequest(
            f"image: {image!r} names no tag or digest: write e.g. {image}:2", field="image"
        )
    backend, name = await executor.backends.resolve(ref)
    target = f"{backend.name}/{name}"
    async with executor.rollouts.admission() as tx:
        state = await backend.get_service(service=name)
        current = _running_image(target, state.image)
        if not wanted.same_repository(current):
            raise InvalidRequest(
                f"image: {target} runs {current.familiar()}; {wanted.familiar()} is another "
                "repository: an upgrade by hand changes the tag (or digest) of the image "
                "the service runs",
                field="image",
            )
        if wanted.tag is None:  # a digest alone: of the tag it runs
            wanted = wanted.with_tag(current.tag, wanted.digest)
        heading = (await executor.rollouts.headings(tx)).get(target)
        base = _running_image(target, heading) if heading is not None else current
        details: dict[str, Any] = {"source": "api", "requested": wanted.familiar()}
        if _same(base, wanted):
            doing = "is being rolled to" if heading is not None else "runs"
            execution = await executor.record(
                audit,
                target=target,
                result="noop",
                message=f"nothing to upgrade: {target} {doing} {wanted.familiar()} already",
                details=details,
            )
            return execution, 200
        plan = UpgradePlan(
            service=target, current=current, target=wanted, push=None, reason="upgrade by hand"
        )
        [execution] = await executor.rollouts.start(
            [plan], strategy=settings.strategy(), audit=audit, details=details, tx=tx
        )
    return execution, 202


async def rollback_by_hand(
    executor: Executor,
    ref: str,
    revision: int | None,
    settings: RolloutSettings,
    audit: Audit,
) -> tuple[Execution, int]:
    """Start rolling ``ref`` back to revision ``revision`` (or the previous one that
    succeeded); the execution and the HTTP status (202, or 200 for a ``noop`` or
    a rollback of limits, done at once)."""
    backend, name = await executor.backends.resolve(ref)
    target = f"{backend.name}/{name}"
    limits: ResourcesChange | None = None
    async with executor.rollouts.admission() as tx:
        revisions = await executor.store.revisions.of(target)
        if revision is not None and all(r.number != revision for r in revisions):
            chosen = rollback_target(revisions, running=None, wanted=revision)
            assert isinstance(chosen, Refusal)
            raise RevisionNotFound(f"revision: {target}: {chosen.reason}", field="revision")
        await _refuse_while_running(executor, target, tx)
        state = await backend.get_service(service=name)
        chosen = rollback_target(revisions, running=state.image, wanted=revision)
        if isinstance(chosen, Refusal):
            raise Conflict(
                f"revision: {target} cannot be rolled back: {chosen.reason}", field="revision"
            )
        if restores_limits(revisions, chosen, running=state.image):
            why = mixed(chosen, running=state.image)
            if why is not None:
                raise Conflict(f"revision: {target} cannot be rolled back: {why}", field="revision")
            wanted = resources_of(limits_at(revisions, chosen.number))
            limits = ResourcesChange(cpus=wanted.cpus, memory=wanted.memory)
        if limits is None:
            return await _roll_image_back(
                executor, target, state.image, chosen, settings, audit, tx
            )
    # outside the admission: change_resources takes it itself, and checks for rollouts
    execution = await change_resources(executor, ref, limits, audit, rollback_of=chosen.number)
    return execution, 200


async def _roll_image_back(
    executor: Executor,
    target: str,
    running: str | None,
    chosen: Revision,
    settings: RolloutSettings,
    audit: Audit,
    tx: Transaction | None,
) -> tuple[Execution, int]:
    """Start the rollout of ``target`` back to ``chosen``'s image (held in the admission)."""
    current = _running_image(target, running)
    assert chosen.image is not None
    try:
        back_to = parse_image(chosen.image)
    except InvalidImage as exc:  # pragma: no cover - revisions keep images it ran
        raise Conflict(f"revision {chosen.number}: {exc}", field="revision") from exc
    details: dict[str, Any] = {
        "source": "api",
        "rollback": {"revision": chosen.number, "image": back_to.familiar()},
    }
    if _same(current, back_to):
        execution = await executor.record(
            audit,
            target=target,
            result="noop",
            message=(
                f"nothing to roll back: {target} runs {back_to.familiar()} "
                f"(revision {chosen.number}) already"
            ),
            details=details,
        )
        return execution, 200
    plan = UpgradePlan(
        service=target,
        current=current,
        target=back_to,
        push=None,
        reason=f"rollback to revision {chosen.number}",
        rollback_of=chosen.number,
    )
    [execution] = await executor.rollouts.start(
        [plan], strategy=settings.strategy(), audit=audit, details=details, tx=tx
    )
    return execution, 202


async def _refuse_while_running(executor: Executor, target: str, tx: Transaction | None) -> None:
    running = executor.rollouts.running_on(target)
    if running is not None:
        rollout, execution, heading = running
        raise Conflict(
            f"{target} has a rollout running (rollout {rollout}, execution {execution}, to "
            f"{show(heading)}): wait for it to end, cancel it (POST /v1/rollouts/{rollout}/"
            f"cancel) or roll it back (POST /v1/rollouts/{rollout}/rollback)"
        )
    unfinished = [r for r in await executor.store.rollouts.unfinished(tx=tx) if r.target == target]
    if unfinished:
        raise Conflict(
            f"{target} has a rollout not finished (rollout {unfinished[-1].id}) that this "
            "scalehook does not run: it resumes when this instance leads, or another runs it"
        )


def _running_image(target: str, image: str | None) -> ImageRef:
    if image is None:
        raise Conflict(f"{target} reports no image: there is nothing to change it from")
    try:
        return parse_image(image)
    except InvalidImage as exc:
        raise Conflict(f"{target} runs an image that cannot be read: {exc}") from exc


def _same(a: ImageRef, b: ImageRef) -> bool:
    """``b`` asks for nothing ``a`` does not run (a digest not given is any digest)."""
    return a.same_repository(b) and a.tag == b.tag and (b.digest is None or a.digest == b.digest)
