"""serviceUpgrade: roll selected services onto a pushed image, health-gated.

The answers to Rancher's and Keel's best-known complaints: the pushed repository must
be the one a service runs; tags pass a policy (versions, patterns, rebuilds), not only
one exact tag; batches wait for readiness and a failure rolls back (or pauses); and
every push is recorded, including the ones that change nothing and why.

A trigger answers at once: ``202`` with the execution of the (first) rollout it started,
or ``200`` with a ``noop`` execution saying why nothing was upgraded. The rollout goes
on in the background (``rollouts.py``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from scalehook.backends.base import UpgradeStrategy
from scalehook.domain.durations import Duration
from scalehook.domain.executions import as_dry_run
from scalehook.domain.receivers import Receiver
from scalehook.domain.selectors import Selector
from scalehook.domain.signals import ImagePushed
from scalehook.domain.tag_policies import TagPolicy
from scalehook.domain.upgrades import Running, decide_upgrades, pushed_image, summary
from scalehook.drivers.base import Driver, HookCall, Outcome, Reads, SecretOption
from scalehook.executor import Executor
from scalehook.sources import SOURCES, by_name

REGISTRIES = frozenset(s.name for s in SOURCES if s.name != "alertmanager")
"""The senders of push notifications."""


class RolloutSettings(BaseModel):
    """How a rollout replaces replicas, as a receiver's config and the API's upgrade and
    rollback by hand write it (the same defaults for both)."""

    model_config = ConfigDict(extra="forbid")

    batch_size: Annotated[int, Field(strict=True, ge=1, le=1000)] = 1
    batch_interval: Annotated[Duration, Field(le=3600)] = 2.0
    start_first: bool = False
    health_timeout: Annotated[Duration, Field(gt=0, le=3600)] = 60.0
    on_failure: Literal["rollback", "pause"] = "rollback"

    def strategy(self) -> UpgradeStrategy:
        return UpgradeStrategy(
            batch_size=self.batch_size,
            batch_interval=self.batch_interval,
            start_first=self.start_first,
            health_timeout=self.health_timeout,
            on_failure=self.on_failure,
        )


class ServiceUpgradeConfig(SecretOption, RolloutSettings):
    model_config = ConfigDict(extra="forbid")

    selector: dict[str, str] = Field(
        default_factory=dict,
        description="labels a service must all have (an empty value: the label is present)",
    )
    tag_policy: str = Field(
        default="semver",
        description="semver[:same-major|:same-minor], exact:<tag>, glob:<p>, regexp:<re>, force",
    )
    source: str | None = Field(
        default=None, description="read every body as this source instead of recognising it"
    )

    @field_validator("tag_policy")
    @classmethod
    def _policy(cls, value: str) -> str:
        return str(TagPolicy.parse(value))

    @field_validator("source")
    @classmethod
    def _source(cls, value: str | None) -> str | None:
        if value is not None and by_name(value) is None:
            known = ", ".join(s.name for s in SOURCES)
            raise ValueError(f"{value!r} is not a known source; use one of {known}")
        return value


class ServiceUpgradeDriver(Driver[ServiceUpgradeConfig]):
    name = "serviceUpgrade"
    config_model = ServiceUpgradeConfig

    async def validate(self, config: ServiceUpgradeConfig, executor: Executor) -> None:
        """Nothing to check against the world: a selector may match services only later."""

    def reading(self, config: ServiceUpgradeConfig) -> Reads:
        return Reads(
            among=REGISTRIES, force=config.source, required=True, what="a push notification"
        )

    async def trigger(
        self, receiver: Receiver, config: ServiceUpgradeConfig, call: HookCall, executor: Executor
    ) -> Outcome:
        audit = call.audit(receiver)
        source = call.source or ""
        pushes = [s for s in call.signals if isinstance(s, ImagePushed)]
        details: dict[str, Any] = {
            "source": source,
            "pushes": [
                {"image": pushed_image(p).familiar(), "tag": p.tag, "digest": p.digest}
                for p in pushes
            ],
            "policy": config.tag_policy,
            "selector": config.selector,
        }
        tagged = [p for p in pushes if p.tag is not None]
        if not tagged:
            message = "the body announces no image push (a ping, a pull, a blob upload...)"
            if pushes:
                names = ", ".join(pushed_image(p).familiar() for p in pushes)
                message = f"untagged push of {names}: ignored, no tag names a version"
            execution = await executor.record(
                audit, target=None, result="noop", message=message, details=details
            )
            return Outcome(execution)
        policy = TagPolicy.parse(config.tag_policy)
        async with executor.rollouts.admission() as tx:
            services = await executor.backends.list_services(selector=Selector.of(config.selector))
            headings = await executor.rollouts.headings(tx)
            running = [Running(s.ref, s.image, headings.get(s.ref)) for s in services]
            plans, skips = decide_upgrades(tagged, running, policy)
            details["skipped"] = [{"service": s.service, "reason": s.reason} for s in skips]
            if plans and audit.dry_run:
                would = [
                    {"service": p.service, "from": p.current.familiar(), "to": p.target.familiar()}
                    for p in plans
                ]
                targets = ", ".join(f"{p.service} to {p.target.familiar()}" for p in plans)
                result, message, recorded = as_dry_run(
                    "upgrading", f"would upgrade {targets}", details, would=would
                )
                execution = await executor.record(
                    audit,
                    target=plans[0].service if len(plans) == 1 else None,
                    result=result,
                    message=message,
                    details=recorded,
                )
                return Outcome(execution)
            if plans:
                executions = await executor.rollouts.start(
                    plans, strategy=config.strategy(), audit=audit, details=details, tx=tx
                )
                return Outcome(executions[0], status=202)
        if not skips and config.selector:
            selector = Selector.of(config.selector)
            message = f"nothing to upgrade: no service matches the selector {selector}"
        elif not skips:
            message = "nothing to upgrade: there is no service"
        else:
            message = f"nothing to upgrade: {summary(skips)}"
        execution = await executor.record(
            audit,
            target=skips[0].service if len(skips) == 1 else None,
            result="noop",
            message=message,
            details=details,
        )
        return Outcome(execution)
