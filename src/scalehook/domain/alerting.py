"""Alert-driven scaling: when an Alertmanager notification moves a service, and why not.

Alertmanager re-sends a group every ``group_interval``/``repeat_interval``, batches
several alerts in one POST and sends ``resolved`` too, so "one step per POST" would
keep scaling on one incident. The rules here make the flow safe by default:

- An incident (fingerprint + startsAt) acts once, however often it is re-sent
  (``dedupe``; the memory is in the store, so it survives a restart).
- One POST acts once for all its new incidents, unless ``per_alert``.
- A resolve acts only with ``on_resolved`` set, and only to undo an action that moved
  the count: an action taken for several incidents at once is undone once, when the
  last of them resolves.
- ``cooldown`` holds an action back when the receiver's previous action of the same
  direction on the target is too recent; the incident is not remembered, so a re-send
  after the cooldown acts.
- ``match`` keeps only alerts whose labels match (``selectors.Selector``).

Everything here is pure: the driver loads the memory and the last actions inside the
executor's lock for the target, and the executor writes the marks with the execution.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from scalehook.domain.decisions import (
    Cooldown,
    DecisionResult,
    Direction,
    ScaleDecision,
    cooldown_left,
    decide_step,
)
from scalehook.domain.durations import Duration
from scalehook.domain.incidents import Incident, IncidentKey, IncidentMark
from scalehook.domain.selectors import Selector
from scalehook.domain.signals import Alert

Reason = Literal[
    "acted",  # the alert is part of the action taken (or, in dry-run, that would be)
    "deduped",  # this incident was acted on already
    "cooldown",  # it would act, but the last action of that direction is too recent
    "label_mismatch",  # its labels do not match the receiver's ``match``
    "resolve_ignored",  # resolved, and ``on_resolved`` is none
    "not_acted",  # resolved, but its firing was never acted on: nothing to undo
    "nothing_to_undo",  # resolved, but its firing found the service at its bound
    "waiting",  # resolved, but others acted on with it still fire
]

_DETAILED_ALERTS = 50


def _cooldown(value: Any) -> Any:
    """``cooldown: 5m`` means both directions; ``{up: 1m, down: 10m}`` sets each."""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return {"up": value, "down": value}
    return value


def _match(value: Any) -> Any:
    """``match: "severity=page,team"`` as written in the CLI, or a mapping."""
    if isinstance(value, str):
        return Selector.parse(value).as_dict()
    return value


class CooldownOption(BaseModel):
    model_config = ConfigDict(extra="forbid")

    up: Duration = Field(default=0.0, le=86_400 * 30)
    down: Duration = Field(default=0.0, le=86_400 * 30)


class AlertOptions(BaseModel):
    """How a scaling receiver treats Alertmanager notifications (and cooldown for all)."""

    on_firing: Direction | None = Field(
        default=None, description="action for firing alerts; default: the receiver's action"
    )
    on_resolved: Literal["none", "up", "down"] = Field(
        default="none", description="none, or the opposite of on_firing to undo it"
    )
    dedupe: bool = Field(default=True, description="an incident (fingerprint + startsAt) acts once")
    cooldown: Annotated[
        CooldownOption,
        BeforeValidator(_cooldown, json_schema_input_type=CooldownOption | float | str),
    ] = Field(
        default_factory=CooldownOption,
        description="least time between two actions of one direction on the target",
    )
    match: Annotated[
        dict[str, str], BeforeValidator(_match, json_schema_input_type=dict[str, str] | str)
    ] = Field(
        default_factory=dict, description="act only on alerts with these labels ('' = present)"
    )
    per_alert: bool = Field(
        default=False, description="one step per new alert instead of one per POST"
    )


ALERT_OPTION_DEFAULTS: dict[str, Any] = AlertOptions().model_dump(mode="json")


@dataclass(frozen=True, slots=True)
class AlertRules:
    """The resolved rules of one receiver: options plus the step and its bounds."""

    on_firing: Direction
    on_resolved: Direction | None
    amount: int
    minimum: int
    maximum: int
    dedupe: bool = True
    cooldown: Cooldown = field(default_factory=Cooldown)
    match: Selector = field(default_factory=Selector)
    per_alert: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    alert: Alert
    reason: Reason


@dataclass(frozen=True, slots=True)
class AlertDecision:
    decision: ScaleDecision
    verdicts: tuple[Verdict, ...]


def _sign(direction: Direction | None) -> int:
    return 0 if direction is None else (1 if direction == "up" else -1)


@dataclass(slots=True)
class _Sorted:
    """The alerts of one notification, sorted: which act, which do not and why."""

    verdicts: dict[int, Reason] = field(default_factory=dict)
    fire: list[int] = field(default_factory=list)
    undo: dict[object, list[int]] = field(default_factory=dict)  # by the action undone
    bookkeeping: list[IncidentMark] = field(default_factory=list)

    @property
    def undoing(self) -> list[int]:
        return [i for members in self.undo.values() for i in members]


def _sort(
    rules: AlertRules, alerts: Sequence[Alert], memory: Mapping[IncidentKey, Incident]
) -> _Sorted:
    out = _Sorted()
    seen: set[IncidentKey] = set()
    matched = [rules.match.matches(a.labels) for a in alerts]
    resolving = {
        (a.fingerprint, a.starts_at)
        for a, ok in zip(alerts, matched, strict=True)
        if ok and a.status == "resolved"
    }
    # Batches that keep an incident open after this notification: computed once, not
    # per resolved alert (a notification may carry thousands).
    open_batches = {
        m.batch
        for m in memory.values()
        if m.batch is not None and not m.resolved and m.key not in resolving
    }
    for i, alert in enumerate(alerts):
        key = (alert.fingerprint, alert.starts_at)
        if not matched[i]:
            out.verdicts[i] = "label_mismatch"
        elif rules.dedupe and key in seen:
            out.verdicts[i] = "deduped"
        elif alert.status == "firing":
            seen.add(key)
            if rules.dedupe and key in memory:
                out.verdicts[i] = "deduped"
            else:
                out.fire.append(i)
        elif not rules.dedupe:
            if rules.on_resolved is None:
                out.verdicts[i] = "resolve_ignored"
            else:
                out.undo[i] = [i]
        else:
            seen.add(key)
            _sort_resolve(rules, i, alert, memory, open_batches, out)
    return out


def _sort_resolve(
    rules: AlertRules,
    i: int,
    alert: Alert,
    memory: Mapping[IncidentKey, Incident],
    open_batches: set[int],
    out: _Sorted,
) -> None:
    """A resolved alert, with dedupe: undo the action its firing took, once."""
    known = memory.get((alert.fingerprint, alert.starts_at))
    if known is None:
        out.verdicts[i] = "not_acted"
        return
    if known.resolved:
        out.verdicts[i] = "deduped"
        return
    resolved = IncidentMark(alert.fingerprint, alert.starts_at, fired=False)
    if rules.on_resolved is None or not known.owes:
        out.verdicts[i] = "resolve_ignored" if rules.on_resolved is None else "nothing_to_undo"
        out.bookkeeping.append(resolved)
        return
    unit: object = known.key
    if known.batch is not None:
        if known.batch in open_batches:
            out.verdicts[i] = "waiting"
            out.bookkeeping.append(resolved)
            return
        unit = ("batch", known.batch)
    out.undo.setdefault(unit, []).append(i)


def decide_alerts(
    rules: AlertRules,
    alerts: Sequence[Alert],
    *,
    memory: Mapping[IncidentKey, Incident],
    last_action: Mapping[Direction, datetime | None],
    now: datetime,
    current: int,
) -> AlertDecision:
    """What one notification does to a service at ``current`` replicas.

    ``memory`` holds the remembered incidents of the alerts in the notification and of
    every incident that shares a batch with one of them; ``last_action`` the time of
    this receiver's last action of each direction on the target.
    """
    out = _sort(rules, alerts, memory)
    fire, undoing = out.fire, out.undoing
    fire_steps = len(fire) if rules.per_alert else min(1, len(fire))
    undo_steps = len(out.undo) if rules.dedupe or rules.per_alert else min(1, len(out.undo))
    net = _sign(rules.on_firing) * fire_steps + _sign(rules.on_resolved) * undo_steps
    summary = _summary(alerts, fire, undoing)
    steps = {"steps": {"firing": fire_steps, "resolved": undo_steps}}

    def done(decision: ScaleDecision, acting: Reason) -> AlertDecision:
        for i in (*fire, *undoing):
            out.verdicts[i] = acting
        ordered = tuple(Verdict(alerts[i], out.verdicts[i]) for i in range(len(alerts)))
        details: dict[str, Any] = {"alerts": [_describe(v) for v in ordered[:_DETAILED_ALERTS]]}
        if len(ordered) > _DETAILED_ALERTS:
            details["more_alerts"] = len(ordered) - _DETAILED_ALERTS
        return AlertDecision(
            dataclasses.replace(decision, details={**details, **decision.details}), ordered
        )

    if not fire and not out.undo:
        result, why = _why_not(rules, alerts, set(out.verdicts.values()))
        message = f"{why}; stays at {current}"
        return done(
            ScaleDecision(current, current, result, message, {}, tuple(out.bookkeeping)), "acted"
        )

    firing_moves = (
        decide_step(
            current=current,
            direction=rules.on_firing,
            amount=rules.amount,
            minimum=rules.minimum,
            maximum=rules.maximum,
        ).after
        != current
    )
    shared = len(fire) > 1 and not rules.per_alert
    acted: tuple[IncidentMark, ...] = ()
    if rules.dedupe:
        acted = (
            *(IncidentMark(*_key(alerts[i]), True, shared, firing_moves) for i in fire),
            *(IncidentMark(*_key(alerts[i]), fired=False) for i in undoing),
        )
    if net == 0:
        message = f"{summary}: the steps cancel out; stays at {current}"
        marks = (*acted, *out.bookkeeping)
        return done(ScaleDecision(current, current, "noop", message, steps, marks), "acted")

    direction: Direction = "up" if net > 0 else "down"
    seconds = rules.cooldown.of(direction)
    wait = cooldown_left(seconds, last_action.get(direction), now)
    if wait > 0:
        message = (
            f"{summary}: cooldown: the last scale-{direction} was {seconds - wait:.0f}s ago, "
            f"the next may run in {wait:.0f}s; stays at {current}"
        )
        details = {**steps, "cooldown_left_s": round(wait, 3), "direction": direction}
        bookkeeping = tuple(out.bookkeeping)
        return done(
            ScaleDecision(current, current, "cooldown", message, details, bookkeeping), "cooldown"
        )
    step = decide_step(
        current=current,
        direction=direction,
        amount=rules.amount * abs(net),
        minimum=rules.minimum,
        maximum=rules.maximum,
    )
    return done(
        ScaleDecision(
            step.before,
            step.after,
            step.result,
            f"{summary}: {step.message}",
            {**steps, "direction": direction},
            (*acted, *out.bookkeeping),
        ),
        "acted",
    )


def _key(alert: Alert) -> IncidentKey:
    return (alert.fingerprint, alert.starts_at)


def _why_not(
    rules: AlertRules, alerts: Sequence[Alert], reasons: set[Reason]
) -> tuple[DecisionResult, str]:
    """The result and message of a notification that asks for nothing."""
    if not alerts:
        return "ignored", "no alerts in the notification"
    if reasons == {"label_mismatch"}:
        return "label_mismatch", f"label mismatch: no alert has the labels {rules.match}"
    if "deduped" in reasons:
        return "deduped", "deduped: every matching incident was acted on already"
    return "ignored", "nothing to do: " + ", ".join(sorted(reasons))


def _summary(alerts: Sequence[Alert], fire: list[int], undo: list[int]) -> str:
    parts = []
    for label, indexes in (("firing", fire), ("resolved", undo)):
        if indexes:
            names = sorted({alerts[i].name or alerts[i].fingerprint for i in indexes})
            shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
            parts.append(f"{len(indexes)} {label} ({shown})")
    return " and ".join(parts)


def _describe(verdict: Verdict) -> dict[str, str]:
    alert = verdict.alert
    return {
        "alertname": alert.name,
        "fingerprint": alert.fingerprint,
        "starts_at": alert.starts_at.isoformat(),
        "status": alert.status,
        "reason": verdict.reason,
    }
