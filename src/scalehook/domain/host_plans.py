"""Which host to clone, what to name the clones, which hosts to remove: pure rules.

Rancher's scaleHost matched one label, could clone the wrong host, deleted more hosts
than asked and raced past max. Here the group is every host matching all selector
pairs; the count excludes hosts in error state; up clones the oldest cloneable host;
down removes exactly ``amount`` (clamped to min): unhealthy hosts first, then by
policy, never a manager, scalehook's own host, a protected or an unmanaged host.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from scalehook.domain.hosts import UNHEALTHY_STATES, Host

RemovePolicy = Literal["least_busy", "oldest", "newest"]

_TRAILING_DIGITS = re.compile(r"^(.*?)(\d+)$")


@dataclass(frozen=True, slots=True)
class UpPlan:
    before: int
    after: int
    base: Host | None
    names: tuple[str, ...]
    result: Literal["scaled", "clamped", "noop"]
    message: str


@dataclass(frozen=True, slots=True)
class DownPlan:
    before: int
    after: int
    remove: tuple[Host, ...]
    result: Literal["scaled", "clamped", "noop"]
    message: str
    kept: tuple[tuple[str, str], ...] = field(default=())


def group_size(group: Iterable[Host]) -> int:
    return sum(1 for h in group if h.counted)


def next_names(base: str, taken: Iterable[str], count: int) -> list[str]:
    """Names after ``base`` by incrementing its trailing number, keeping zero padding.

    ``batch-1`` → ``batch-2``, ``batch-3``; ``web09`` → ``web10``; ``node`` → ``node2``.
    Numbers continue after the highest one in use with the same prefix, and skip any
    name already taken anywhere in the cluster.
    """
    short = base.split(".", maxsplit=1)[0]
    match = _TRAILING_DIGITS.match(short)
    prefix, digits = (match.group(1), match.group(2)) if match else (short, "")
    width = len(digits)
    taken_set = set(taken)
    highest = int(digits) if digits else 1
    for name in taken_set:
        other = _TRAILING_DIGITS.match(name.split(".")[0])
        if other and other.group(1) == prefix:
            highest = max(highest, int(other.group(2)))
    names: list[str] = []
    number = highest
    while len(names) < count:
        number += 1
        candidate = f"{prefix}{str(number).zfill(width)}"
        if candidate not in taken_set:
            names.append(candidate)
    return names


def first_name(labels: Mapping[str, str], taken: Iterable[str]) -> str:
    """A name for a group's first host, from its first label's value: ``batch-1``."""
    first = next(iter(labels.values()), "") or "host"
    base = "".join(c if c.isalnum() or c == "-" else "-" for c in first.lower())
    taken_set = set(taken)
    if f"{base}-1" not in taken_set:
        return f"{base}-1"
    return next_names(f"{base}-1", taken_set, 1)[0]


def plan_up(group: Sequence[Host], *, amount: int, maximum: int, taken: Iterable[str]) -> UpPlan:
    before = group_size(group)
    wanted = before + amount
    after = max(before, min(wanted, maximum))
    if after == before:
        return UpPlan(before, before, None, (), "noop", f"at max {maximum}: stays at {before}")
    candidates = sorted((h for h in group if h.cloneable), key=lambda h: (h.created, h.name))
    if not candidates:
        return UpPlan(before, before, None, (), "noop", "no host of the group can be cloned")
    base = candidates[0]
    names = tuple(next_names(base.name, taken, after - before))
    if after == wanted:
        message = f"cloning {base.name} {len(names)} time(s): {before} to {after} hosts"
        return UpPlan(before, after, base, names, "scaled", message)
    message = f"clamped to max {maximum}: wanted {wanted}; cloning {base.name} {len(names)} time(s)"
    return UpPlan(before, after, base, names, "clamped", message)


def removal_order(group: Sequence[Host], policy: RemovePolicy) -> list[Host]:
    """Unhealthy hosts first (oldest first), then the healthy ones by ``policy``."""
    unhealthy = sorted(
        (h for h in group if h.state in UNHEALTHY_STATES), key=lambda h: (h.created, h.name)
    )
    healthy = [h for h in group if h.state not in UNHEALTHY_STATES and h.counted]
    if policy == "oldest":
        healthy.sort(key=lambda h: (h.created, h.name))
    elif policy == "newest":
        healthy.sort(key=lambda h: (h.created, h.name), reverse=True)
    else:
        healthy.sort(key=lambda h: (h.load.running_tasks, -h.created.timestamp(), h.name))
    return unhealthy + healthy


def plan_down(
    group: Sequence[Host], *, amount: int, minimum: int, policy: RemovePolicy
) -> DownPlan:
    before = group_size(group)
    wanted = before - amount
    target = min(before, max(wanted, minimum))
    if target == before:
        return DownPlan(before, before, (), "noop", f"at min {minimum}: stays at {before}")
    remove: list[Host] = []
    kept: list[tuple[str, str]] = []
    for host in removal_order(group, policy):
        if len(remove) == before - target:
            break
        reason = host.removable()
        if reason is None:
            remove.append(host)
        else:
            kept.append((host.name, reason))
    after = before - len(remove)
    names = ", ".join(h.name for h in remove)
    if not remove:
        why = "; ".join(f"{n}: {r}" for n, r in kept) or "no host may be removed"
        return DownPlan(before, before, (), "noop", f"no host may be removed ({why})", tuple(kept))
    if after == wanted:
        return DownPlan(
            before,
            after,
            tuple(remove),
            "scaled",
            f"removing {names}: {before} to {after}",
            tuple(kept),
        )
    bound = f"min {minimum}" if wanted < minimum else "what may be removed"
    return DownPlan(
        before,
        after,
        tuple(remove),
        "clamped",
        f"clamped to {bound}: wanted {wanted}; removing {names}: {before} to {after}",
        tuple(kept),
    )
