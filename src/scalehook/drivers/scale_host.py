"""scaleHost: grow or shrink a group of hosts chosen by labels (``host_groups.py``).

Work on one group is serialised, so concurrent triggers never pass min or max; a
host-group policy takes the same path and the same lock.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from scalehook.domain.durations import Duration
from scalehook.domain.executions import Execution
from scalehook.domain.host_plans import RemovePolicy, first_name, group_size
from scalehook.domain.hosts import Host
from scalehook.domain.receivers import Receiver
from scalehook.domain.selectors import Selector
from scalehook.drivers.base import Driver, HookCall, Outcome, SecretOption
from scalehook.errors import Conflict, InvalidRequest
from scalehook.executor import ActionResult, Executor
from scalehook.host_groups import GroupChange, group_target, scale_group
from scalehook.hosts.manager import NOT_CONFIGURED, HostManager
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

    def change(self) -> GroupChange:
        return GroupChange(
            action=self.action,
            amount=self.amount,
            min=self.min,
            max=self.max,
            remove_policy=self.remove_policy,
            drain_timeout=float(self.drain_timeout),
        )


def host_manager(executor: Executor) -> HostManager:
    if executor.hosts is None:
        raise InvalidRequest(
            f"driver: {NOT_CONFIGURED}",
            field="driver",
        )
    return executor.hosts


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
            action=lambda: scale_group(hosts, config.change(), selector, dry_run=receiver.dry_run),
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
