"""Changing a service's CPU and memory limits by hand (``POST /v1/services/{name}/resources``).

One action through ``executor.run`` on the service's target, so it takes turns with
scales and recreates of that service and is recorded (driver ``api``) before the
target is let go; under the rollouts' admission, so no push starts a rollout of the
service meanwhile. Refused (409) while a rollout runs on the service: a rollout's
replacements are cloned from replicas whose limits would be changing under it.

The record: ``details.resources`` holds the limits before and after, and
``details.change`` is ``resources``. A change that set something (``updated``) is a
revision of the service (change ``resources``, its ``resources`` those of
``domain.resources.revision_resources``), numbered with the image changes, so
``POST /v1/services/{name}/rollback`` can go back to it (``manual_rollouts.py`` calls
``change_resources`` with ``rollback_of``). A ``noop`` makes no revision.
"""

from __future__ import annotations

from typing import Any

from scalehook.domain.executions import Execution
from scalehook.domain.resources import ResourcesChange, change_message, revision_resources
from scalehook.domain.revisions import RevisionDraft
from scalehook.errors import Conflict, InvalidRequest
from scalehook.executor import ActionResult, Executor
from scalehook.recording import Audit


async def change_resources(
    executor: Executor,
    ref: str,
    change: ResourcesChange,
    audit: Audit,
    *,
    rollback_of: int | None = None,
) -> Execution:
    """Apply ``change`` to ``ref``'s replicas; the execution (``updated``, or ``noop``
    when the service has those limits already). ``rollback_of``: the revision whose
    limits a rollback puts back."""
    if change.empty:
        raise InvalidRequest("give cpus, memory or both (null removes a limit)")
    backend, name = await executor.backends.resolve(ref)
    target = f"{backend.name}/{name}"

    async def action() -> ActionResult:
        heading = (await executor.rollouts.headings(admitted)).get(target)
        if heading is not None:
            raise Conflict(
                f"a rollout runs on {target} (to {heading}): its replacements are cloned "
                "from replicas whose limits would change under it; change the limits once "
                "it is done"
            )
        current = await backend.resources(service=name)
        before = current.limits
        after = change.applied_to(before)
        details: dict[str, Any] = {
            "change": "resources",
            "resources": revision_resources(before, after),
        }
        if after == before:
            return ActionResult("noop", change_message(target, before, after), details=details)
        applied = await backend.set_resources(service=name, cpus=after.cpus, memory=after.memory)
        details.update(
            applied=applied.message,
            enforced=applied.enforced,
            restarted=applied.restarted,
            replicas=list(applied.replicas),
        )
        message = f"{change_message(target, before, after)}: {applied.message}"
        image = (await backend.get_service(service=name)).image
        revision = RevisionDraft(
            change="resources",
            image=image,
            previous_image=image,
            reason=(
                "limits changed by hand"
                if rollback_of is None
                else f"rollback to the limits of revision {rollback_of}"
            ),
            resources=details["resources"],
            rollback_of=rollback_of,
        )
        return ActionResult("updated", message, details=details, revision=revision)

    async with executor.rollouts.admission() as admitted:
        return await executor.run(target=target, action=action, audit=audit)
