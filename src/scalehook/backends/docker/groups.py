"""Which containers make up a service on a plain Docker engine.

Docker has no service object: a service is the set of containers sharing a label.
scalehook's own ``scalehook.service=<name>`` wins; else Compose's project + service
labels, so a stack started with ``docker compose up`` is scaled without change. One-off
``docker compose run`` containers and Swarm's task containers never belong to one.
The same Compose service name in two projects is told apart as ``<project>.<service>``.

During a rolling upgrade a container made to replace another carries the replaced one's
id (``scalehook.replaces``): while that one still exists, the new one is *surge* (not
yet kept, not counted in the desired count) and the old one is still the *member*. Once
the old one is gone, the new one is the member. The labels alone say which is which, so
a scalehook that was stopped in the middle of a batch finds it out again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from scalehook.backends.base import ServiceState
from scalehook.backends.engine import JSON
from scalehook.backends.rolling import IMAGE_LABEL
from scalehook.errors import InvalidRequest, ServiceNotFound

SERVICE_LABEL = "scalehook.service"
REPLICA_LABEL = "scalehook.replica"
COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
COMPOSE_NUMBER = "com.docker.compose.container-number"
COMPOSE_ONEOFF = "com.docker.compose.oneoff"
SWARM_TASK = "com.docker.swarm.task.id"
REPLACES_LABEL = "scalehook.replaces"
"""On a container a rollout made: the id of the container it replaces."""
"""On a container a rollout made: the image as pushed (tag and digest), which the engine's
own record cannot say (it runs the tag, or an image id)."""

PER_REPLICA_LABELS = frozenset({REPLICA_LABEL, COMPOSE_NUMBER, REPLACES_LABEL, IMAGE_LABEL})
"""Labels that differ from one replica to the next: not the service's labels."""

_HEALTH = re.compile(r"\((healthy|unhealthy|health: starting)\)")
GONE = frozenset({"removing", "dead"})


@dataclass(frozen=True, slots=True)
class Container:
    """One row of the engine's container list, as the docker backend needs it."""

    id: str
    name: str
    image: str
    labels: Mapping[str, str]
    state: str
    created: int
    health: str | None = None
    addresses: tuple[str, ...] = ()

    @classmethod
    def of(cls, row: JSON) -> Container:
        names = row.get("Names") or [f"/{row['Id'][:12]}"]
        match = _HEALTH.search(row.get("Status") or "")
        health = None if match is None else match.group(1).removeprefix("health: ")
        networks = ((row.get("NetworkSettings") or {}).get("Networks")) or {}
        addresses = tuple(n["IPAddress"] for n in networks.values() if n.get("IPAddress"))
        labels = dict(row.get("Labels") or {})
        return cls(
            id=row["Id"],
            name=names[0].lstrip("/"),
            image=labels.get(IMAGE_LABEL) or row.get("Image") or "",
            labels=labels,
            state=row.get("State") or "unknown",
            created=int(row.get("Created") or 0),
            health=health,
            addresses=addresses,
        )

    @property
    def number(self) -> int:
        """The replica number scalehook or Compose gave it; 0 if none."""
        for key in (REPLICA_LABEL, COMPOSE_NUMBER):
            value = self.labels.get(key, "")
            if value.isdigit():
                return int(value)
        return 0

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def ready(self) -> bool:
        """Running, and healthy when the image or container has a HEALTHCHECK."""
        return self.running and self.health in (None, "healthy")

    @property
    def replaces(self) -> str | None:
        """The id of the container this one was made to replace, if a rollout made it."""
        return self.labels.get(REPLACES_LABEL) or None

    @property
    def age_key(self) -> tuple[int, int, str]:
        """Sorts oldest first: creation second, then replica number, then name."""
        return (self.created, self.number, self.name)


@dataclass(slots=True)
class Group:
    """The containers of one service, oldest first."""

    service: str
    project: str | None
    containers: list[Container] = field(default_factory=list)

    @property
    def qualified(self) -> str:
        return self.service if self.project is None else f"{self.project}.{self.service}"

    @property
    def surge(self) -> list[Container]:
        """Containers a rollout started that replace a container still there."""
        present = {c.id for c in self.containers}
        return [c for c in self.containers if c.replaces in present]

    @property
    def members(self) -> list[Container]:
        """The containers that make up the desired count, oldest first."""
        surge = {c.id for c in self.surge}
        return [c for c in self.containers if c.id not in surge]

    @property
    def newest(self) -> Container:
        return self.members[-1]

    @property
    def next_number(self) -> int:
        """The replica number after every one in use (numbers are never reused, so the
        newest container also has the highest number)."""
        return max(*(c.number for c in self.containers), len(self.containers)) + 1

    @property
    def base_name(self) -> str:
        """What replica names start with: ``<service>``, ``<project>-<service>``."""
        return self.service if self.project is None else f"{self.project}-{self.service}"

    @property
    def number_label(self) -> str:
        return REPLICA_LABEL if self.project is None else COMPOSE_NUMBER

    @property
    def image(self) -> str:
        """The service's image: its oldest member's. A rollout replaces the oldest first
        and its containers are the newest, so this stays the previous image until every
        member runs the new one."""
        return self.members[0].image

    @property
    def labels(self) -> dict[str, str]:
        return {k: v for k, v in self.newest.labels.items() if k not in PER_REPLICA_LABELS}

    def state(self, *, name: str, backend: str, image: str | None = None) -> ServiceState:
        return ServiceState(
            name=name,
            backend=backend,
            labels=self.labels,
            desired=len(self.members),
            running=sum(1 for c in self.containers if c.running),
            ready=sum(1 for c in self.containers if c.ready),
            image=image or self.image,
        )


def group_key(labels: Mapping[str, str]) -> tuple[str | None, str] | None:
    """(project, service) for a container that belongs to a service, else None."""
    if SWARM_TASK in labels:
        return None
    if labels.get(SERVICE_LABEL):
        return None, labels[SERVICE_LABEL]
    if labels.get(COMPOSE_ONEOFF, "").lower() == "true":
        return None
    project, service = labels.get(COMPOSE_PROJECT), labels.get(COMPOSE_SERVICE)
    if project and service:
        return project, service
    return None


def group(containers: Iterable[Container]) -> list[Group]:
    """Containers gathered into services; gone or going containers left out."""
    groups: dict[tuple[str | None, str], Group] = {}
    for container in containers:
        if container.state in GONE:
            continue
        key = group_key(container.labels)
        if key is None:
            continue
        if key not in groups:
            groups[key] = Group(service=key[1], project=key[0])
        groups[key].containers.append(container)
    for found in groups.values():
        found.containers.sort(key=lambda c: c.age_key)
    return list(groups.values())


def names(groups: Iterable[Group]) -> dict[str, Group]:
    """Each group under the name people use: the service's, or ``project.service`` for
    Compose groups where several share it (a ``scalehook.service`` group keeps it)."""
    by_service: dict[str, list[Group]] = {}
    for found in groups:
        by_service.setdefault(found.service, []).append(found)
    named: dict[str, Group] = {}
    for service, same in by_service.items():
        for found in same:
            plain = len(same) == 1 or found.project is None
            named[service if plain else found.qualified] = found
    return named


def find(groups: Iterable[Group], name: str, *, backend: str) -> tuple[str, Group]:
    """The group a name means, and its listed name: the name as listed, the Compose
    ``project.service`` always, and a bare name only where it is not ambiguous."""
    listed = names(groups)
    if name in listed:
        return name, listed[name]
    for key, found in listed.items():
        if found.project is not None and found.qualified == name:
            return key, found
    same = sorted(key for key, found in listed.items() if found.service == name)
    if not same:
        raise ServiceNotFound(f"no service named {name!r} on backend {backend!r}")
    raise InvalidRequest(
        f"service {name!r} is ambiguous on backend {backend!r}: say {', '.join(same)}"
    )
