"""A rolling upgrade on Swarm is one service update, rolled by Swarm itself.

The strategy becomes the service's update config: ``Parallelism`` = ``batch_size``,
``Delay`` = ``batch_interval`` (Swarm's delay is per worker, after each task: batches
are pipelined, not lock-step), ``Order`` = start-first / stop-first, ``FailureAction`` =
rollback / pause, ``Monitor`` = ``health_timeout`` (a new task failing before it runs,
or within that long after, is a failure; with a HEALTHCHECK, a task runs only once
healthy, and an unhealthy one fails). ``MaxFailureRatio`` is 0: one failure acts. The
same settings go into ``RollbackConfig``, with ``pause`` (a rollback never rolls back).
Swarm has no limit on how long a task may stay ``starting`` (a check that fails without
ever running out of retries): the backend watches for that, as the health gate.

Swarm rolls back to the spec before the update, with that spec's rollback config, so
the config is written first in an update of its own (no task changes for it), then the
image. The spec names the image by tag: no registry is asked for a digest, so images
that exist only on the nodes run. What was pushed (tag and digest) is kept in the
``scalehook.image`` service label, which a rollback takes back with the rest.

Rollout control maps onto the update config too, for Swarm has no call to pause an
update in progress: a pause sets ``Delay`` to ``HOLD`` (30 days; a spec change restarts
Swarm's updater with it, so its workers finish the task they have, each may take one
more, and then wait), a resume writes the strategy's config again. Each such write makes
the spec before it (what Swarm's own rollback returns to) one of the same image, so
after a pause ``FailureAction`` is ``pause`` and scalehook rolls back itself, with an
update to the previous image (``rolled_back_to``).

Everything here is pure: reading a service and its tasks, writing a spec.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

from scalehook.backends.base import UpgradeStrategy
from scalehook.backends.engine import JSON
from scalehook.backends.rolling import IMAGE_LABEL, show
from scalehook.domain.images import InvalidImage, parse_image

SECOND = 1_000_000_000  # the Engine API counts durations in nanoseconds
HOLD = 30 * 86_400 * SECOND  # the update delay of a paused update
ROLLBACK_STATES = frozenset({"rollback_started", "rollback_completed", "rollback_paused"})
_ENDED = frozenset({"failed", "rejected", "complete"})  # "complete": it exited
_AT_REST = frozenset(
    {"running", "complete", "shutdown", "failed", "rejected", "remove", "orphaned"}
)


def update_config(strategy: UpgradeStrategy, *, rollback: bool = False) -> JSON:
    return {
        "Parallelism": strategy.batch_size,
        "Delay": round(strategy.batch_interval * SECOND),
        "FailureAction": "pause" if rollback else strategy.on_failure,
        "Monitor": round(strategy.health_timeout * SECOND),
        "MaxFailureRatio": 0,
        "Order": "start-first" if strategy.start_first else "stop-first",
    }


def _normal(config: JSON | None) -> JSON:
    """An update config without its zero values (the engine leaves them out)."""
    return {k: v for k, v in (config or {}).items() if v not in (0, None, "")}


def configured(spec: JSON, strategy: UpgradeStrategy) -> bool:
    """Does the spec already carry the strategy's update and rollback config?"""
    update: bool = _normal(spec.get("UpdateConfig")) == _normal(update_config(strategy))
    rollback: bool = _normal(spec.get("RollbackConfig")) == _normal(
        update_config(strategy, rollback=True)
    )
    return update and rollback


def with_config(spec: JSON, strategy: UpgradeStrategy) -> JSON:
    new = copy.deepcopy(spec)
    new["UpdateConfig"] = update_config(strategy)
    new["RollbackConfig"] = update_config(strategy, rollback=True)
    return new


def held(spec: JSON) -> bool:
    """Is the update of this spec paused by scalehook (its delay is ``HOLD``)?"""
    return int((spec.get("UpdateConfig") or {}).get("Delay") or 0) == HOLD


def with_hold(spec: JSON, strategy: UpgradeStrategy) -> JSON:
    """The spec whose update holds: Swarm's workers wait ``HOLD`` after their task, and
    a failure pauses (Swarm's rollback would return to this very image now)."""
    new = copy.deepcopy(spec)
    new["UpdateConfig"] = {**update_config(strategy), "Delay": HOLD, "FailureAction": "pause"}
    return new


def released(spec: JSON, strategy: UpgradeStrategy) -> JSON:
    """The spec of a held update let go on: the strategy's config, but a failure pauses
    (scalehook rolls back itself, see ``rolled_back_to``)."""
    new = copy.deepcopy(spec)
    new["UpdateConfig"] = {**update_config(strategy), "FailureAction": "pause"}
    return new


def rollback_restores(service: JSON) -> bool:
    """Would Swarm's own rollback (``?rollback=previous``) change the tasks? Not once a
    config-only update (a pause, a resume) made the spec before this one the same."""
    before = service.get("PreviousSpec")
    if not before:
        return False
    now = service.get("Spec") or {}
    force = int(((now.get("TaskTemplate") or {}).get("ForceUpdate")) or 0)
    was = int(((before.get("TaskTemplate") or {}).get("ForceUpdate")) or 0)
    return container_image(before) != container_image(now) or force != was


def rolled_back_to(spec: JSON, strategy: UpgradeStrategy, image: str) -> JSON:
    """The spec that rolls a service back to ``image`` by an update of its own, with the
    rollback's settings (a failure pauses: a rollback is never rolled back)."""
    new = with_image(spec, image)
    new["UpdateConfig"] = update_config(strategy, rollback=True)
    return new


def by_tag(image: str) -> str:
    """How the spec names an image: ``acme/app:2`` (no digest: the nodes resolve the tag)."""
    try:
        ref = parse_image(image)
    except InvalidImage:
        return image
    return ref.by_tag()


def container_image(spec: JSON) -> str | None:
    image = ((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image")
    return None if not image else str(image).split("@", 1)[0]


def declared(spec: JSON) -> str | None:
    """The image a service spec runs, as pushed when scalehook put it there."""
    image = container_image(spec)
    label = (spec.get("Labels") or {}).get(IMAGE_LABEL)
    if image is not None and label and by_tag(label) == by_tag(image):
        return str(label)
    return image


def with_image(spec: JSON, image: str) -> JSON:
    """The spec running ``image`` (named by tag). The same tag again (a rebuild) forces
    new tasks, which pull it again."""
    new = copy.deepcopy(spec)
    template = new.setdefault("TaskTemplate", {})
    container = template.setdefault("ContainerSpec", {})
    runs = by_tag(image)
    if container_image(new) == runs:
        template["ForceUpdate"] = int(template.get("ForceUpdate") or 0) + 1
    container["Image"] = runs
    new["Labels"] = {**(new.get("Labels") or {}), IMAGE_LABEL: show(image)}
    return new


def task_state(task: JSON) -> str:
    return str((task.get("Status") or {}).get("State") or "")


def place(task: JSON) -> str:
    """The slot of a replicated task, the node of a global one."""
    slot = task.get("Slot")
    return str(slot) if slot else str(task.get("NodeID") or "")[:12]


def slot_of(task: JSON, service: str) -> str:
    return f"{service}.{place(task)}"


@dataclass(frozen=True, slots=True)
class Observation:
    """What a service and its tasks say about an update now."""

    state: str  # UpdateStatus.State, or "" before Swarm has started the update
    message: str
    total: int  # tasks the service should run
    updated: tuple[str, ...]  # slots whose task runs the new spec and is running
    others: int = 0  # running tasks of another spec
    failed: JSON = None  # the task of the new spec that failed the update, if one did
    starting: tuple[JSON, ...] = ()  # tasks of the new spec started, not yet healthy
    moving: int = 0  # tasks of the new spec on their way (stop-first: desired "ready" first)


def observe(service: JSON, tasks: Sequence[JSON], *, image: str, force: int) -> Observation:
    """Read an update to ``image`` (the spec's name for it) with ``ForceUpdate`` ``force``."""
    spec = service.get("Spec") or {}
    status = service.get("UpdateStatus") or {}
    name = str(spec.get("Name") or service.get("ID") or "")
    current = [t for t in tasks if t.get("DesiredState") == "running"]
    mode = spec.get("Mode") or {}
    if "Replicated" in mode:
        total = int((mode.get("Replicated") or {}).get("Replicas") or 0)
    else:
        total = len({t.get("NodeID") for t in current})

    def new_spec(task: JSON) -> bool:
        template = task.get("Spec") or {}
        return (
            container_image({"TaskTemplate": template}) == image
            and int(template.get("ForceUpdate") or 0) == force
        )

    updated = sorted(
        {slot_of(t, name) for t in current if new_spec(t) and task_state(t) == "running"}
    )
    message = str(status.get("Message") or "")
    ended = [t for t in tasks if new_spec(t) and task_state(t) in _ENDED]
    named = [t for t in ended if t.get("ID") and str(t["ID"]) in message]
    return Observation(
        state=str(status.get("State") or ""),
        message=message,
        total=total,
        updated=tuple(updated),
        others=sum(1 for t in current if not new_spec(t) and task_state(t) == "running"),
        failed=(named or ended or [None])[0],
        starting=tuple(t for t in current if new_spec(t) and task_state(t) == "starting"),
        moving=sum(
            1
            for t in tasks
            if new_spec(t)
            and task_state(t) not in _AT_REST
            and t.get("DesiredState") in ("running", "ready")
        ),
    )
