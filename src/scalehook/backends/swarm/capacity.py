"""A Swarm's nodes and what a service's tasks need of them, read from the Engine API.

The pure half of ``SwarmBackend.nodes`` and ``SwarmBackend.capacity``: ``/nodes``,
``/tasks`` (those meant to run) and a service spec become ``domain.capacity``'s
``Node``, ``NodeFacts`` and ``TaskNeeds``; the rules are there.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from scalehook.backends.engine import JSON
from scalehook.domain.capacity import Node, NodeFacts, TaskNeeds, max_tasks_label

NANO = 1_000_000_000


def node_facts(
    node: JSON, tasks: Sequence[JSON], *, backend: str, names: Mapping[str, str]
) -> NodeFacts:
    """One node (``GET /nodes``) with the tasks meant to run on it; ``names`` maps
    service ids to names (for the per-service counts)."""
    spec = node.get("Spec") or {}
    description = node.get("Description") or {}
    resources = description.get("Resources") or {}
    platform = description.get("Platform") or {}
    labels = {str(k): str(v) for k, v in (spec.get("Labels") or {}).items()}
    most, note = max_tasks_label(labels)
    reserved_cpus = reserved_memory = 0
    for task in tasks:
        reservation = ((task.get("Spec") or {}).get("Resources") or {}).get("Reservations") or {}
        reserved_cpus += int(reservation.get("NanoCPUs") or 0)
        reserved_memory += int(reservation.get("MemoryBytes") or 0)
    by_service = Counter(str(t.get("ServiceID") or "") for t in tasks)
    hostname = str(description.get("Hostname") or "")
    cpus = int(resources.get("NanoCPUs") or 0)
    memory = int(resources.get("MemoryBytes") or 0)
    return NodeFacts(
        node=Node(
            backend=backend,
            kind="swarm",
            id=str(node["ID"]),
            name=str(spec.get("Name") or hostname or node["ID"]),
            state=str((node.get("Status") or {}).get("State") or "unknown"),
            cpus=cpus / NANO if cpus else None,
            memory=memory or None,
            replicas=len(tasks),
            max_replicas=most,
            bound="label" if most is not None else "reservations",
            role=str(spec.get("Role") or "worker"),
            availability=str(spec.get("Availability") or "active"),
            labels=labels,
            services={names.get(k, k[:12]): v for k, v in sorted(by_service.items()) if k},
            reserved_cpus=reserved_cpus / NANO,
            reserved_memory=reserved_memory,
            note=note,
        ),
        hostname=hostname,
        address=str((node.get("Status") or {}).get("Addr") or ""),
        os=str(platform.get("OS") or ""),
        arch=str(platform.get("Architecture") or ""),
        engine_labels={
            str(k): str(v)
            for k, v in ((description.get("Engine") or {}).get("Labels") or {}).items()
        },
        tasks_of=dict(by_service),
    )


def cluster(
    nodes: Sequence[JSON], tasks: Sequence[JSON], *, backend: str, names: Mapping[str, str]
) -> list[NodeFacts]:
    """Every node with its tasks (those meant to run: ``desired-state=running``)."""
    per_node: dict[str, list[JSON]] = {}
    for task in tasks:
        if task.get("DesiredState") == "running" and task.get("NodeID"):
            per_node.setdefault(str(task["NodeID"]), []).append(task)
    return [
        node_facts(n, per_node.get(str(n["ID"]), []), backend=backend, names=names) for n in nodes
    ]


def task_needs(service: JSON, tasks: Sequence[JSON]) -> TaskNeeds:
    """What one task of ``service`` needs of a node, and how many it has on nodes now."""
    spec = service.get("Spec") or {}
    template = spec.get("TaskTemplate") or {}
    reservation = (template.get("Resources") or {}).get("Reservations") or {}
    placement = template.get("Placement") or {}
    placed = sum(
        1
        for t in tasks
        if t.get("ServiceID") == service.get("ID")
        and t.get("DesiredState") == "running"
        and t.get("NodeID")
    )
    return TaskNeeds(
        service_id=str(service.get("ID") or ""),
        name=str(spec.get("Name") or service.get("ID") or ""),
        cpus=int(reservation.get("NanoCPUs") or 0) / NANO,
        memory=int(reservation.get("MemoryBytes") or 0),
        constraints=tuple(str(c) for c in placement.get("Constraints") or ()),
        max_per_node=int(placement.get("MaxReplicas") or 0),
        placed=placed,
    )
