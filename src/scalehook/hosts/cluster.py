"""What the host manager needs of a cluster: its nodes with their load, and how to
label, drain and remove one. ``backends/swarm/nodes.py`` implements it on a Swarm
manager's engine; nothing in ``hosts/`` speaks the Engine API itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from scalehook.domain.hosts import Host, JoinSpec, NodeTask


class Cluster(Protocol):
    async def close(self) -> None: ...

    async def self_node_id(self) -> str | None:
        """The node whose engine scalehook talks to; fails unless it is a manager."""
        ...

    async def join_spec(self) -> JoinSpec:
        """How a new worker joins: the worker token and the managers' addresses."""
        ...

    async def hosts(self, *, self_id: str | None) -> list[Host]:
        """Every node, with the load of the tasks meant to run on it."""
        ...

    async def update_node(
        self,
        node_id: str,
        *,
        labels: Mapping[str, str] | None = None,
        availability: str | None = None,
    ) -> None:
        """Replace a node's labels and/or set its availability (``active``, ``drain``)."""
        ...

    async def remove_node(self, node_id: str) -> None:
        """Forget a node; one that is gone already is fine."""
        ...

    async def running_tasks(self, node_id: str) -> list[NodeTask]:
        """Tasks on the node that run, or are meant to."""
        ...

    async def services_settled(self, service_ids: set[str], away_from: str) -> bool:
        """True when each service runs all its replicas on nodes other than ``away_from``."""
        ...

    async def wait_for_node(self, *, node_id: str | None, hostname: str, timeout: float) -> Host:
        """Wait until the node (by id, else by hostname) is Ready; return it."""
        ...
