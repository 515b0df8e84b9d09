"""Growing and shrinking a host group: the one path a scaleHost receiver and a host-group
policy both take (inside ``Executor.run``, under the group's lock).

Up clones the group's oldest cloneable host; down removes hosts in a safe order
(``domain/host_plans``) and drains each first. A failure half way is recorded with what
exists now. With ``dry_run`` the plan is recorded and nothing changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from scalehook.domain.executions import Result, as_dry_run
from scalehook.domain.host_plans import RemovePolicy, group_size, plan_down, plan_up
from scalehook.domain.hosts import Host
from scalehook.domain.selectors import Selector, group_target
from scalehook.errors import ScalehookError
from scalehook.executor import ActionResult
from scalehook.hosts.manager import HostManager

__all__ = ["GroupChange", "group_target", "scale_group"]


@dataclass(frozen=True, slots=True)
class GroupChange:
    """One change of a group's size: ``amount`` hosts ``up`` or ``down``, within
    ``min``..``max``."""

    action: Literal["up", "down"]
    amount: int
    min: int
    max: int
    remove_policy: RemovePolicy = "least_busy"
    drain_timeout: float = 300.0


async def scale_group(
    hosts: HostManager,
    change: GroupChange,
    selector: Selector,
    *,
    dry_run: bool = False,
    listed: Sequence[Host] | None = None,
) -> ActionResult:
    """List every host (or take ``listed``, read under the group's lock just before),
    plan, and apply the plan one host at a time."""
    everything = await hosts.list() if listed is None else listed
    group = [h for h in everything if selector.matches(h.labels)]
    details: dict[str, Any] = {"selector": selector.as_dict()}
    if change.action == "up":
        up = plan_up(
            group, amount=change.amount, maximum=change.max, taken={h.name for h in everything}
        )
        details["created"] = []
        if up.base is None:
            return ActionResult(up.result, up.message, up.before, up.after, details)
        details["cloned"] = up.base.name
        if dry_run:
            return _dry_run(up.result, up.message, up.before, up.after, details, up.names)
        for name in up.names:
            try:
                host = await hosts.add(
                    provider=up.base.provider or "",
                    labels=up.base.user_labels(),
                    name=name,
                    like=up.base,
                )
            except ScalehookError as exc:
                return await _failed(hosts, selector, details, f"cloning {up.base.name} as {name}",
                                     name, up.before, exc)  # fmt: skip
            details["created"].append(host.name)
        return ActionResult(up.result, up.message, up.before, up.after, details)
    down = plan_down(group, amount=change.amount, minimum=change.min, policy=change.remove_policy)
    details.update(
        policy=change.remove_policy,
        removed=[],
        kept=[{"host": name, "reason": reason} for name, reason in down.kept],
    )
    if dry_run and down.remove:
        names = [h.name for h in down.remove]
        return _dry_run(down.result, down.message, down.before, down.after, details, names)
    for host in down.remove:
        why = "unhealthy" if host.state != "ready" else change.remove_policy
        try:
            report = await hosts.remove(host, drain_timeout=change.drain_timeout)
        except ScalehookError as exc:
            return await _failed(hosts, selector, details, f"removing {host.name}", host.name,
                                 down.before, exc)  # fmt: skip
        details["removed"].append({**report, "why": why})
    return ActionResult(down.result, down.message, down.before, down.after, details)


def _dry_run(
    would: Result,
    message: str,
    before: int,
    after: int,
    details: dict[str, Any],
    names: Sequence[str],
) -> ActionResult:
    result, text, recorded = as_dry_run(
        would, message, {**details, "names": list(names)}, would=would
    )
    return ActionResult(result, text, before, after, recorded)


async def _failed(
    hosts: HostManager,
    selector: Selector,
    details: dict[str, Any],
    doing: str,
    host: str,
    before: int,
    exc: ScalehookError,
) -> ActionResult:
    """A step failed half way: record what exists now, and the error to answer with."""
    now = group_size(await hosts.list(selector))
    details["failed"] = {"host": host, "error": exc.message}
    message = f"{doing} failed: {exc.message}; the group has {now} hosts now"
    return ActionResult("failed", message, before, now, details, error=exc)
