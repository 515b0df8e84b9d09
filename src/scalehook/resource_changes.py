"""Changing a service's CPU and memory limits by hand (``POST /v1/services/{name}/resources``).

One action through ``executor.run`` on the service's target, so it takes turns with
scales and recreates of that service and is recorded (driver ``api``) before the
target is let go; under the rollouts' admission, so no push starts a rollout of the
service meanwhile. Refused (409) while a rollout runs on the service: a rollout's
replacements are cloned from replicas whose limits would be changing under it.

The record: ``details.resources`` holds the limits before and after, and
``details.change`` is ``resources``. That is the revision a resources change makes
(``domain.resources.revision_resources``): the revisions of issue 15 number it with the
image changes, so it can be rolled back.
"""

from __future__ import annotations

from typing import Any

from scalehook.domain.executions import Execution
from scalehook.domain.resources import ResourcesChange, change_message, revision_resources
from scalehook.errors import Conflict, InvalidRequest
from scalehook.executor import ActionResult, Executor
from scalehook.recording import Audit


async def change_resources(
    executor: Executor, ref: str, change: ResourcesChange, audit: Audit
) -> Execution:
    """Apply ``change`` to ``ref``'s replicas; the execution (``updated``, or ``noop``
    when the service has those limits already)."""
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
        return ActionResult("updated", message, details=details)

    async with executor.rollouts.admission() as admitted:
        return await executor.run(target=target, action=action, audit=audit)
