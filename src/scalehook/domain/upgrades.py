"""Which services a push upgrades, and to what: decided without I/O.

Rancher upgraded every selected service to whatever was pushed, whatever it ran. Here
a service is upgraded only when it runs the pushed repository (registry and path,
normalised) and the receiver's tag policy allows the pushed tag over the one it runs;
every other selected service is skipped with the reason, for the record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NewType

from scalehook.domain.executions import ExecutionId
from scalehook.domain.images import ImageRef, InvalidImage, parse_image
from scalehook.domain.signals import ImagePushed
from scalehook.domain.tag_policies import TagPolicy

MAX_REASONS_SHOWN = 3

RolloutId = NewType("RolloutId", int)


@dataclass(frozen=True, slots=True)
class Running:
    """A selected service as the decision needs it."""

    ref: str
    image: str | None
    rolling_to: str | None = None  # the image of a rollout in progress, if any


@dataclass(frozen=True, slots=True)
class UpgradePlan:
    """One service to roll from ``current`` to ``target``: for a push (``push``), or by
    hand (an upgrade, or a rollback to revision ``rollback_of``)."""

    service: str
    current: ImageRef
    target: ImageRef
    push: ImagePushed | None
    reason: str
    rollback_of: int | None = None


@dataclass(frozen=True, slots=True)
class Skip:
    service: str
    reason: str


@dataclass(frozen=True, slots=True)
class RolloutRecord:
    """A rollout as the store keeps it, so that a restart can finish it."""

    id: RolloutId
    execution_id: ExecutionId
    target: str
    image: str
    previous: str | None
    strategy: dict[str, Any]
    phase: str  # rolling, rolling_back, done
    instance: str | None = None  # the instance that ran it last; None: not begun
    paused: bool = False  # asked to pause (by hand): it holds between batches, also after a restart
    command: str | None = None  # cancel or rollback, asked by hand and not yet obeyed
    created_at: datetime | None = None
    updated_at: datetime | None = None


def pushed_image(push: ImagePushed) -> ImageRef:
    return ImageRef(push.registry, push.repository, push.tag, push.digest)


def decide_upgrades(
    pushes: Sequence[ImagePushed], services: Sequence[Running], policy: TagPolicy
) -> tuple[list[UpgradePlan], list[Skip]]:
    """One plan per service to upgrade, one skip (with its reason) per other service."""
    plans: list[UpgradePlan] = []
    skips: list[Skip] = []
    tagged = [p for p in pushes if p.tag is not None]
    for service in services:
        outcome = _decide(tagged, service, policy)
        if isinstance(outcome, UpgradePlan):
            plans.append(outcome)
        else:
            skips.append(outcome)
    return plans, skips


def _decide(
    pushes: Sequence[ImagePushed], service: Running, policy: TagPolicy
) -> UpgradePlan | Skip:
    if not pushes:
        return Skip(service.ref, "no pushed image has a tag")
    if service.image is None:
        return Skip(service.ref, "reports no image")
    try:
        current = parse_image(service.image)
    except InvalidImage as exc:
        return Skip(service.ref, f"its image cannot be read: {exc}")
    base, against = current, ""
    if service.rolling_to is not None:
        try:
            base = parse_image(service.rolling_to)
            against = f" (compared with the rollout to {base.familiar()} in progress)"
        except InvalidImage:
            base = current
    mine = [p for p in pushes if pushed_image(p).same_repository(current)]
    if not mine:
        names = ", ".join(sorted({pushed_image(p).with_tag(None).familiar() for p in pushes}))
        return Skip(service.ref, f"runs {current.familiar()}, not {names}")
    allowed: list[tuple[ImagePushed, str]] = []
    refused = ""
    for push in mine:
        assert push.tag is not None
        verdict = policy.allows(
            current=base.tag, current_digest=base.digest, tag=push.tag, digest=push.digest
        )
        if verdict.allowed:
            allowed.append((push, verdict.reason))
        else:
            refused = f"{policy}: {verdict.reason}{against}"
    if not allowed:
        return Skip(service.ref, refused)
    best = policy.best([p.tag for p, _ in allowed if p.tag is not None])
    push, reason = [(p, r) for p, r in allowed if p.tag == best][-1]
    return UpgradePlan(
        service=service.ref,
        current=current,
        target=current.with_tag(push.tag, push.digest),
        push=push,
        reason=reason,
    )


def summary(skips: Sequence[Skip]) -> str:
    """Why nothing was upgraded, in one line."""
    if not skips:
        return "no selected service"
    shown = "; ".join(f"{s.service} {s.reason}" for s in skips[:MAX_REASONS_SHOWN])
    more = len(skips) - MAX_REASONS_SHOWN
    return shown + (f"; and {more} more" if more > 0 else "")
