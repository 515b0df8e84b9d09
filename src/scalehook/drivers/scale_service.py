"""scaleService: move a service's replica count by an amount, within [min, max].

Better than Rancher, which refused a step that would cross a bound: here the step is
clamped to the bound, and a trigger at the bound is a recorded ``noop``. An ``up``
never lowers the count and a ``down`` never raises it, even when the service sits
outside the bounds (someone scaled it by hand).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from scalehook.decisions import ScaleDecision
from scalehook.drivers.base import Driver, HookCall, Outcome
from scalehook.errors import InvalidRequest, NotFound, NotScalable
from scalehook.executor import Executor
from scalehook.receivers import Receiver

StrictCount = Annotated[int, Field(strict=True, ge=0)]


class ScaleServiceConfig(BaseModel):
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
        return self


def decide_scale(config: ScaleServiceConfig, *, current: int) -> ScaleDecision:
    """The new desired count for one trigger, given the current desired count."""
    up = config.action == "up"
    wanted = current + config.amount if up else current - config.amount
    clamped = min(max(wanted, config.min), config.max)
    after = max(current, clamped) if up else min(current, clamped)
    if after == current:
        bound = f"max {config.max}" if up else f"min {config.min}"
        return ScaleDecision(current, current, "noop", f"at {bound}: stays at {current}")
    if after == wanted:
        return ScaleDecision(current, after, "scaled", f"scaled from {current} to {after}")
    bound = f"max {config.max}" if wanted > config.max else f"min {config.min}"
    return ScaleDecision(
        current,
        after,
        "clamped",
        f"clamped to {bound}: wanted {wanted}, scaled {current} to {after}",
    )


class ScaleServiceDriver(Driver[ScaleServiceConfig]):
    name = "scaleService"
    config_model = ScaleServiceConfig

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
        execution = await executor.scale(
            service=config.service,
            decide=lambda state: decide_scale(config, current=state.desired),
            audit=call.audit(receiver),
        )
        return Outcome(execution)
