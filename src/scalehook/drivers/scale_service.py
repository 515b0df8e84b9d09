"""scaleService: move a service's replica count by an amount, within [min, max].

Better than Rancher, which refused a step that would cross a bound: here the step is
clamped to the bound, and a trigger at the bound is a recorded ``noop``. An ``up``
never lowers the count and a ``down`` never raises it, even when the service sits
outside the bounds (someone scaled it by hand).

A POST with an Alertmanager body goes through the alert rules (``alerting.py``:
dedupe, firing/resolved, label match, one step per group); any other POST is one
step, as it always was. ``cooldown`` applies to both.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from scalehook.backends import ServiceState
from scalehook.domain.alerting import ALERT_OPTION_DEFAULTS, AlertOptions, AlertRules, decide_alerts
from scalehook.domain.decisions import (
    Cooldown,
    Direction,
    ScaleDecision,
    cooldown_left,
    decide_step,
)
from scalehook.domain.incidents import Incident, IncidentKey
from scalehook.domain.receivers import Receiver
from scalehook.domain.selectors import Selector
from scalehook.domain.signals import AlertGroup
from scalehook.drivers.base import Driver, HookCall, Outcome, SecretOption
from scalehook.errors import InvalidRequest, NotFound, NotScalable
from scalehook.executor import Executor
from scalehook.recording import Audit

StrictCount = Annotated[int, Field(strict=True, ge=0)]


class ScaleServiceConfig(AlertOptions, SecretOption):
    model_config = ConfigDict(extra="forbid")

    service: str = Field(min_length=1, max_length=200, description="service name or backend/name")
    action: Literal["up", "down"]
    amount: Annotated[int, Field(strict=True, ge=1, le=1000)] = 1
    min: StrictCount = 1
    max: StrictCount = 100

    @model_validator(mode="after")
    def _bounds(self) -> ScaleServiceConfig:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not be greater than max ({self.max})")
        if self.on_resolved not in ("none", _opposite(self.firing)):
            raise ValueError(
                f"on_resolved: {self.on_resolved!r} would repeat on_firing ({self.firing!r});"
                f" use 'none' or {_opposite(self.firing)!r}"
            )
        return self

    @model_serializer(mode="wrap")
    def _omit_default_alert_options(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Keep a stored config to what was chosen: alert options left at their
        defaults are not written (a plain receiver looks as it always did)."""
        data = handler(self)
        if isinstance(data, dict):
            for name, default in {**ALERT_OPTION_DEFAULTS, "secret": None}.items():
                if name in data and data[name] == default:
                    del data[name]
        return data

    @property
    def firing(self) -> Direction:
        return self.on_firing or self.action

    def rules(self) -> AlertRules:
        return AlertRules(
            on_firing=self.firing,
            on_resolved=None if self.on_resolved == "none" else self.on_resolved,
            amount=self.amount,
            minimum=self.min,
            maximum=self.max,
            dedupe=self.dedupe,
            cooldown=Cooldown(up=self.cooldown.up, down=self.cooldown.down),
            match=Selector.of(self.match),
            per_alert=self.per_alert,
        )


def _opposite(direction: Direction) -> Direction:
    return "down" if direction == "up" else "up"


def decide_scale(config: ScaleServiceConfig, *, current: int) -> ScaleDecision:
    """The new desired count for one trigger, given the current desired count."""
    return decide_step(
        current=current,
        direction=config.action,
        amount=config.amount,
        minimum=config.min,
        maximum=config.max,
    )


def decide_plain(
    config: ScaleServiceConfig, *, current: int, last: datetime | None, now: datetime
) -> ScaleDecision:
    """A plain trigger: one step, unless the cooldown of its direction still runs."""
    seconds = config.rules().cooldown.of(config.action)
    wait = cooldown_left(seconds, last, now)
    if wait > 0:
        return ScaleDecision(
            current,
            current,
            "cooldown",
            f"cooldown: the last scale-{config.action} was {seconds - wait:.0f}s ago, "
            f"the next may run in {wait:.0f}s; stays at {current}",
            {"cooldown_left_s": round(wait, 3), "direction": config.action},
        )
    return decide_scale(config, current=current)


class ScaleServiceDriver(Driver[ScaleServiceConfig]):
    name = "scaleService"
    config_model = ScaleServiceConfig
    reads = frozenset({"alertmanager"})

    def target(self, config: ScaleServiceConfig) -> str | None:
        return config.service

    async def validate(self, config: ScaleServiceConfig, executor: Executor) -> None:
        try:
            backend, service = await executor.backends.resolve(config.service)
        except NotFound as exc:
            raise InvalidRequest(f"config.service: {exc.message}", field="config.service") from exc
        except InvalidRequest as exc:
            raise InvalidRequest(f"config.service: {exc.message}", field="config.service") from exc
        state = await backend.get_service(service=service)
        if not state.scalable:
            raise NotScalable(
                f"config.service: {state.ref} runs in {state.mode} mode and cannot be scaled",
                field="config.service",
            )

    async def trigger(
        self, receiver: Receiver, config: ScaleServiceConfig, call: HookCall, executor: Executor
    ) -> Outcome:
        audit = call.audit(receiver)
        groups = [s for s in call.signals if isinstance(s, AlertGroup)]
        if groups:
            return await self._alerts(receiver, config, groups[0], audit, executor)
        cooldown = config.rules().cooldown.of(config.action)

        async def decide(state: ServiceState) -> ScaleDecision:
            last = None
            if cooldown > 0:  # only then does the last action's time matter
                last = (
                    await executor.store.executions.last_actions(
                        receiver_id=receiver.id, target=state.ref, dry_run=audit.dry_run
                    )
                )[config.action]
            return decide_plain(config, current=state.desired, last=last, now=executor.clock.now())

        execution = await executor.scale(service=config.service, decide=decide, audit=audit)
        return Outcome(execution)

    async def _alerts(
        self,
        receiver: Receiver,
        config: ScaleServiceConfig,
        group: AlertGroup,
        audit: Audit,
        executor: Executor,
    ) -> Outcome:
        rules = config.rules()
        verdicts: list[tuple[str, str]] = []

        async def decide(state: ServiceState) -> ScaleDecision:
            memory: dict[IncidentKey, Incident] = {}
            if rules.dedupe:
                memory = await executor.store.incidents.find(
                    receiver_id=receiver.id,
                    dry_run=audit.dry_run,
                    keys=[(a.fingerprint, a.starts_at) for a in group.alerts],
                )
            last: dict[Direction, datetime | None] = {"up": None, "down": None}
            if rules.cooldown.up > 0 or rules.cooldown.down > 0:
                last = await executor.store.executions.last_actions(
                    receiver_id=receiver.id, target=state.ref, dry_run=audit.dry_run
                )
            decided = decide_alerts(
                rules,
                group.alerts,
                memory=memory,
                last_action=last,
                now=executor.clock.now(),
                current=state.desired,
            )
            verdicts[:] = [(v.alert.status, v.reason) for v in decided.verdicts]
            decision = decided.decision
            details = {
                "source": "alertmanager",
                "group_key": group.group_key,
                "status": group.status,
                **decision.details,
            }
            if group.truncated:
                details["truncated_alerts"] = group.truncated
            return dataclasses.replace(decision, details=details)

        execution = await executor.scale(service=config.service, decide=decide, audit=audit)
        executor.metrics.count_alerts(receiver=receiver.name, verdicts=verdicts)
        return Outcome(execution)
