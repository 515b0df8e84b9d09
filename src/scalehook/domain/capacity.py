"""Capacity: the machines that run replicas, and the most a service may have on them.

A *node* is a machine as scalehook sees it: the local machine, a Docker engine, a Swarm
node; with its CPUs and memory, the replicas (or tasks) it runs now and the most it may
hold. The local backend and a Docker engine hold at most ``max_replicas`` replicas of
all their services together (a setting; by default :func:`default_max_replicas` of the
machine, so that a receiver with ``amount: 1000`` cannot fork a thousand processes on a
two-core machine). A Swarm node holds at most its ``scalehook.max_tasks`` label's count
of tasks, and no more than its resources can reserve for a service's tasks
(``Resources.Reservations``), on the nodes the service's placement constraints allow.

A *capacity* is what a scale-up is clamped to: the most replicas one service may have
now, and why. Pure: the backends read the engines, the executor reads a capacity under
the target's lock and ``decisions.within_capacity`` applies it.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from scalehook.domain.resources import format_memory

MAX_TASKS_LABEL: Final = "scalehook.max_tasks"
REPLICAS_PER_CPU: Final = 16
MEMORY_PER_REPLICA: Final = 128 * 1024 * 1024

Bound = Literal["setting", "default", "label", "reservations", "none"]
"""Where a node's most comes from: ``max_replicas`` as set, the default of the machine,
the node's ``scalehook.max_tasks`` label, its resources against task reservations
(Swarm, no label), or nothing known."""


def default_max_replicas(cpus: int, memory: int) -> int:
    """The most replicas a machine holds when nothing is configured: 16 per CPU, and no
    more than one per 128 MiB of memory (at least 1)."""
    by_cpu = REPLICAS_PER_CPU * max(1, cpus)
    by_memory = memory // MEMORY_PER_REPLICA if memory > 0 else by_cpu
    return max(1, min(by_cpu, by_memory))


def describe_default(cpus: int, memory: int) -> str:
    """Where the default comes from, in a few words."""
    gib = memory / 1024**3
    return (
        f"the default for {cpus} CPU(s) and {gib:.1f}Gi: {REPLICAS_PER_CPU} per CPU, at "
        f"most one per {format_memory(MEMORY_PER_REPLICA)}"
    )


@dataclass(frozen=True, slots=True)
class Node:
    """One machine that runs replicas, as a backend sees it now."""

    backend: str
    kind: str  # local, docker, swarm
    id: str
    name: str
    state: str = "ready"
    cpus: float | None = None
    memory: int | None = None
    replicas: int = 0  # replicas (local, docker) or tasks (swarm) it runs now
    max_replicas: int | None = None  # the most it may hold; None: no count is known
    bound: Bound = "none"
    role: str | None = None
    availability: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    services: Mapping[str, int] = field(default_factory=dict)  # replicas per service
    reserved_cpus: float | None = None  # what its tasks reserve (Swarm)
    reserved_memory: int | None = None
    note: str | None = None  # e.g. an unreadable max_tasks label

    @property
    def free(self) -> int | None:
        """Replicas it may take on before it is full; None when no count bounds it."""
        if self.max_replicas is None:
            return None
        return max(0, self.max_replicas - self.replicas)

    @property
    def schedulable(self) -> bool:
        """It can take new replicas now (a Swarm node that is ready and active)."""
        return self.state == "ready" and self.availability in (None, "active")

    @property
    def reservations_full(self) -> bool:
        """Its tasks reserve all its CPUs or all its memory."""
        cpus_full = (
            self.cpus is not None
            and self.reserved_cpus is not None
            and self.cpus > 0
            and self.reserved_cpus >= self.cpus
        )
        memory_full = (
            self.memory is not None
            and self.reserved_memory is not None
            and self.memory > 0
            and self.reserved_memory >= self.memory
        )
        return cpus_full or memory_full


@dataclass(frozen=True, slots=True)
class Capacity:
    """The most replicas a service may have now, and why (for the clamp's message)."""

    limit: int
    reason: str


def machine_capacity(*, most: int, others: int, where: str, source: str, service: str) -> Capacity:
    """A machine that holds ``most`` replicas of all its services, ``others`` of which
    belong to other services than ``service``."""
    limit = max(0, most - others)
    text = f"{where} holds at most {most} replicas ({source})"
    if others:
        text += f"; other services have {others}"
    return Capacity(limit=limit, reason=text)


def max_tasks_label(labels: Mapping[str, str]) -> tuple[int | None, str | None]:
    """A Swarm node's ``scalehook.max_tasks``: (the count, None), (None, None) when it is
    not set, or (None, why) when it cannot be read."""
    text = labels.get(MAX_TASKS_LABEL)
    if text is None:
        return None, None
    try:
        value = int(text.strip())
    except ValueError:
        return None, f"{MAX_TASKS_LABEL}={text!r} is not a whole number: ignored"
    if value < 0:
        return None, f"{MAX_TASKS_LABEL}={text!r} is negative: ignored"
    return value, None


# --- Swarm placement ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeFacts:
    """What a Swarm node offers a service's tasks: the node itself, and what placement
    constraints can name."""

    node: Node
    hostname: str = ""
    address: str = ""
    os: str = ""
    arch: str = ""
    engine_labels: Mapping[str, str] = field(default_factory=dict)
    tasks_of: Mapping[str, int] = field(default_factory=dict)  # service id -> its tasks here


@dataclass(frozen=True, slots=True)
class TaskNeeds:
    """What one task of a service needs of a node (its spec's placement and reservations)."""

    service_id: str
    name: str
    cpus: float = 0.0  # Resources.Reservations.NanoCPUs, in cores
    memory: int = 0  # Resources.Reservations.MemoryBytes
    constraints: tuple[str, ...] = ()
    max_per_node: int = 0  # Placement.MaxReplicas; 0: no limit
    placed: int = 0  # its tasks now on nodes


def constraint_matches(constraint: str, facts: NodeFacts) -> bool:
    """Does a Swarm placement constraint (``node.labels.disk==ssd``, ``node.role!=manager``)
    allow the node? As Swarm reads them: keys case-insensitive, label names as written,
    values compared case-insensitively, a missing label read as ''; an expression Swarm
    would not understand allows no node."""
    for operator in ("==", "!="):
        key, sep, value = constraint.partition(operator)
        if sep:
            break
    else:
        return False
    key, value = key.strip(), value.strip()
    equal = operator == "=="
    lowered = key.lower()
    node = facts.node
    if lowered == "node.ip":
        return _ip_matches(value, facts.address, equal)
    known = {
        "node.id": node.id,
        "node.hostname": facts.hostname,
        "node.role": node.role or "",
        "node.platform.os": facts.os,
        "node.platform.arch": facts.arch,
    }
    if lowered in known:
        seen = known[lowered]
    elif lowered.startswith("node.labels.") and len(key) > len("node.labels."):
        seen = node.labels.get(key[len("node.labels.") :], "")
    elif lowered.startswith("engine.labels.") and len(key) > len("engine.labels."):
        seen = facts.engine_labels.get(key[len("engine.labels.") :], "")
    else:
        return False
    return (seen.casefold() == value.casefold()) == equal


def _ip_matches(value: str, address: str, equal: bool) -> bool:
    try:
        here = ipaddress.ip_address(address)
    except ValueError:
        return not equal
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return (here in network) == equal


def task_slots(needs: TaskNeeds, facts: NodeFacts) -> int | None:
    """How many more tasks of the service the node may take now: 0 when it cannot take
    one, None when nothing bounds the count."""
    node = facts.node
    if not node.schedulable or not all(constraint_matches(c, facts) for c in needs.constraints):
        return 0
    bounds: list[int] = []
    if node.max_replicas is not None:
        bounds.append(node.max_replicas - node.replicas)
    if needs.cpus > 0 and node.cpus is not None:
        free = node.cpus - (node.reserved_cpus or 0.0)
        bounds.append(math.floor(round(free / needs.cpus, 9)))
    if needs.memory > 0 and node.memory is not None:
        bounds.append((node.memory - (node.reserved_memory or 0)) // needs.memory)
    if needs.max_per_node > 0:
        bounds.append(needs.max_per_node - facts.tasks_of.get(needs.service_id, 0))
    return None if not bounds else max(0, min(bounds))


def swarm_capacity(needs: TaskNeeds, nodes: Sequence[NodeFacts]) -> Capacity | None:
    """The most tasks a Swarm service may have now: those it has placed, and as many
    more as its nodes may take. None when a node it may use has no bound at all."""
    free = 0
    bounded: list[str] = []
    eligible = 0
    for facts in nodes:
        slots = task_slots(needs, facts)
        if slots is None:
            return None
        if facts.node.schedulable and all(constraint_matches(c, facts) for c in needs.constraints):
            eligible += 1
            bounded.append(f"{facts.node.name} {slots}")
        free += slots
    limit = needs.placed + free
    if not eligible:
        reason = "no ready, active node meets its placement constraints"
    else:
        reason = (
            f"its {needs.placed} task(s) placed, and room for {free} more ({', '.join(bounded)})"
        )
    return Capacity(limit=limit, reason=f"the swarm holds at most {limit} tasks of it: {reason}")
