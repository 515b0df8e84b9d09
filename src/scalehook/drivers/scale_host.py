"""scaleHost: grow or shrink a group of hosts chosen by labels.

Up clones the group's oldest cloneable host; down removes hosts in a safe order and
drains each first. Work on one group is serialised, so concurrent triggers never pass
min or max. A failure half way is recorded with what exists now.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from scalehook.domain.durations import Duration
from scalehook.domain.executions import Execution, Result, as_dry_run
from scalehook.domain.host_plans import RemovePolicy, first_name, group_size, plan_down, plan_up
from scalehook.domain.hosts import Host
from scalehook.domain.receivers import Receiver
from scalehook.domain.selectors import Selector
from scalehook.drivers.base import Driver, HookCall, Outcome, SecretOption
from scalehook.errors import Conflict, InvalidRequest, ScalehookError
from scalehook.executor import ActionResult, Executor
from scalehook.hosts.manager import HostManager
from scalehook.recording import Audit

Count = Annotated[int, Field(strict=True, ge=0, le=1000)]


class ScaleHostConfig(SecretOption):
    model_config = ConfigDict(extra="forbid")

    selector: dict[str, str] = Field(description="labels every host of the group carries")
    action: Literal["up", "down"]
    amount: Annotated[int, Field(strict=True, ge=1, le=100)] = 1
    min: Count = 1
    max: Count = 10
    remove_policy: RemovePolicy = "least_busy"
    drain_timeout: Duration = 300.0

    @field_validator("selector")
    @classmethod
    def _selector(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError('name at least one label, e.g. {"group": "batch"}')
        return value

    @model_validator(mode="after")
    def _bounds(self) -> ScaleHostConfig:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not be greater than max ({self.max})")
        return self


def host_manager(executor: Executor) -> HostManager:
    if executor.hosts is None:
        raise InvalidRequest(
            "driver: host scaling is not configured (add a 'hosts:' section to scalehook.yaml)",
            field="driver",
        )
    return executor.hosts


def group_target(selector: Selector) -> str:
    return f"hosts/{selector}"


async def scale_group(
    hosts: HostManager, config: ScaleHostConfig, selector: Selector, *, dry_run: bool = False
) -> ActionResult:
    """List the group, plan, and apply the plan one host at a time (with ``dry_run``,
    record the plan and change nothing)."""
    everything = await hosts.list()
    group = [h for h in everything if selector.matches(h.labels)]
    details: dict[str, Any] = {"selector": selector.as_dict()}
    if config.action == "up":
        up = plan_up(
            group, amount=config.amount, maximum=config.max, taken={h.name for h in everything}
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
    down = plan_down(group, amount=config.amount, minimum=config.min, policy=config.remove_policy)
    details.update(
        policy=config.remove_policy,
        removed=[],
        kept=[{"host": name, "reason": reason} for name, reason in down.kept],
    )
    if dry_run and down.remove:
        names = [h.name for h in down.remove]
        return _dry_run(down.result, down.message, down.before, down.after, details, names)
    for host in down.remove:
        why = "unhealthy" if host.state != "ready" else config.remove_policy
        try:
            report = await hosts.remove(host, drain_timeout=config.drain_timeout)
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


class ScaleHostDriver(Driver[ScaleHostConfig]):
    name = "scaleHost"
    config_model = ScaleHostConfig

    async def validate(self, config: ScaleHostConfig, executor: Executor) -> None:
        host_manager(executor)

    async def trigger(
        self, receiver: Receiver, config: ScaleHostConfig, call: HookCall, executor: Executor
    ) -> Outcome:
        hosts = host_manager(executor)
        selector = Selector.of(config.selector)
        execution = await executor.run(
            target=group_target(selector),
            action=lambda: scale_group(hosts, config, selector, dry_run=receiver.dry_run),
            audit=call.audit(receiver),
        )
        return Outcome(execution)


async def add_host(
    hosts: HostManager,
    executor: Executor,
    *,
    provider: str,
    labels: dict[str, str],
    name: str | None,
    audit: Audit,
) -> tuple[Host, Execution]:
    """Add one host by hand (the first of a group), recorded like a trigger."""
    hosts.provider(provider)  # a bad request is refused, not recorded as a failed action
    selector = Selector.of(labels)
    made: list[Host] = []

    async def action() -> ActionResult:
        everything = await hosts.list()
        taken = {h.name for h in everything}
        if name is not None and name in taken:
            raise Conflict(f"a host named {name!r} exists already", field="name")
        before = group_size(h for h in everything if selector.matches(h.labels))
        host = await hosts.add(
            provider=provider, labels=labels, name=name or first_name(labels, taken)
        )
        made.append(host)
        return ActionResult(
            "scaled",
            f"added {host.name} ({provider})",
            before,
            before + 1,
            {"created": [host.name], "selector": selector.as_dict()},
        )

    execution = await executor.run(target=group_target(selector), action=action, audit=audit)
    return made[0], execution


async def remove_host(
    hosts: HostManager, executor: Executor, *, ident: str, drain_timeout: float, audit: Audit
) -> Execution:
    """Drain and remove one host by hand, recorded like a trigger."""
    host = await hosts.find(ident)
    reason = host.removable()
    if reason is not None:
        raise Conflict(f"host {host.name} is never removed: {reason}")
    selector = Selector.of(host.user_labels())

    async def action() -> ActionResult:
        before = group_size(await hosts.list(selector))
        report = await hosts.remove(host, drain_timeout=drain_timeout)
        return ActionResult(
            "scaled",
            f"removed {host.name}",
            before,
            before - 1,
            {"removed": [{**report, "why": "asked"}], "selector": selector.as_dict()},
        )

    return await executor.run(target=group_target(selector), action=action, audit=audit)
