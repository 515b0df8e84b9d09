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

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from scalehook.backends.base import UpgradeStrategy
from scalehook.domain.durations import Duration
from scalehook.domain.receivers import Receiver
from scalehook.domain.selectors import Selector
from scalehook.domain.signals import ImagePushed
from scalehook.domain.signatures import verify
from scalehook.domain.tag_policies import TagPolicy
from scalehook.domain.upgrades import Running, decide_upgrades, pushed_image, summary
from scalehook.drivers.base import Driver, HookCall, Outcome
from scalehook.errors import InvalidPayload, Unauthorized
from scalehook.executor import Executor
from scalehook.rollouts import Origin
from scalehook.sources import SOURCES, by_name, detect

KNOWN_BODIES = (
    "Docker Hub, Harbor, Quay, GitHub packages, Docker Distribution or GitLab registry "
    'notifications, or {"image": "repository:tag"}'
)


class ServiceUpgradeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    selector: dict[str, str] = Field(
        default_factory=dict,
        description="labels a service must all have (an empty value: the label is present)",
    )
    tag_policy: str = Field(
        default="semver",
        description="semver[:same-major|:same-minor], exact:<tag>, glob:<p>, regexp:<re>, force",
    )
    batch_size: Annotated[int, Field(strict=True, ge=1, le=1000)] = 1
    batch_interval: Annotated[Duration, Field(le=3600)] = 2.0
    start_first: bool = False
    health_timeout: Annotated[Duration, Field(gt=0, le=3600)] = 60.0
    on_failure: Literal["rollback", "pause"] = "rollback"
    source: str | None = Field(
        default=None, description="read every body as this source instead of recognising it"
    )
    secret: str | None = Field(
        default=None,
        min_length=8,
        max_length=256,
        repr=False,
        description="calls must prove it (X-Hub-Signature-256 or Authorization); never shown",
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

    def strategy(self) -> UpgradeStrategy:
        return UpgradeStrategy(
            batch_size=self.batch_size,
            batch_interval=self.batch_interval,
            start_first=self.start_first,
            health_timeout=self.health_timeout,
            on_failure=self.on_failure,
        )


class ServiceUpgradeDriver(Driver[ServiceUpgradeConfig]):
    name = "serviceUpgrade"
    config_model = ServiceUpgradeConfig

    async def validate(self, config: ServiceUpgradeConfig, executor: Executor) -> None:
        """Nothing to check against the world: a selector may match services only later."""

    async def trigger(
        self, receiver: Receiver, config: ServiceUpgradeConfig, call: HookCall, executor: Executor
    ) -> Outcome:
        audit = call.audit(receiver)
        try:
            source, pushes = read_pushes(config, call)
        except (InvalidPayload, Unauthorized) as exc:
            execution = await executor.record(
                audit, target=None, result="rejected", message=exc.message
            )
            exc.execution_id = execution.id
            raise
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
        async with executor.rollouts.admission():
            services = await executor.backends.list_services(selector=Selector.of(config.selector))
            running = [Running(s.ref, s.image, executor.rollouts.heading(s.ref)) for s in services]
            plans, skips = decide_upgrades(tagged, running, policy)
            details["skipped"] = [{"service": s.service, "reason": s.reason} for s in skips]
            if plans and audit.dry_run:
                details["dry_run"] = True
                details["would"] = [
                    {"service": p.service, "from": p.current.familiar(), "to": p.target.familiar()}
                    for p in plans
                ]
                targets = ", ".join(f"{p.service} to {p.target.familiar()}" for p in plans)
                execution = await executor.record(
                    audit,
                    target=plans[0].service if len(plans) == 1 else None,
                    result="dry_run",
                    message=f"dry run, nothing changed: would upgrade {targets}",
                    details=details,
                )
                return Outcome(execution)
            if plans:
                executions = await executor.rollouts.start(
                    plans,
                    strategy=config.strategy(),
                    origin=Origin(
                        driver=audit.driver,
                        started_at=audit.started_at,
                        receiver_id=audit.receiver_id,
                        receiver_name=audit.receiver_name,
                        caller=audit.caller,
                    ),
                    details=details,
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


def read_pushes(config: ServiceUpgradeConfig, call: HookCall) -> tuple[str, list[ImagePushed]]:
    """Check the secret, decode the body, find its source and read its pushes."""
    if config.secret is not None:
        verify(config.secret, call.body, call.headers)
    body = decode(call.body)
    source = by_name(config.source) if config.source is not None else detect(body, call.headers)
    if source is None:
        raise InvalidPayload(
            f"the body is not a push notification scalehook knows ({KNOWN_BODIES}); "
            "set config.source to read it as one of them"
        )
    signals = source.parse(body, call.headers)
    return source.name, [s for s in signals if isinstance(s, ImagePushed)]


def decode(body: bytes) -> Any:
    if not body.strip():
        raise InvalidPayload(f"the body is empty; expected a push notification ({KNOWN_BODIES})")
    # from None below: the decode errors keep the whole body (``doc``, ``object``), which
    # may carry a sender's token; the message says all they would.
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidPayload(f"the body is not valid JSON: {exc.msg} at {exc.pos}") from None
    except UnicodeDecodeError:
        raise InvalidPayload("the body is not valid JSON: it is not UTF-8 text") from None
    except RecursionError:
        raise InvalidPayload("the body is not usable JSON: it is nested too deeply") from None
