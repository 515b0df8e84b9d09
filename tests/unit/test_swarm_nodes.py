"""A Swarm node's JSON as the host manager's ``Host``: the one place it is read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from scalehook.backends.swarm.nodes import node_host
from scalehook.domain.hosts import PROVIDER_ID_LABEL, PROVIDER_LABEL

NODE = {
    "ID": "n1",
    "CreatedAt": "2024-05-01T10:20:30.123456789Z",
    "Spec": {
        "Name": "",
        "Role": "worker",
        "Availability": "drain",
        "Labels": {"group": "batch", PROVIDER_LABEL: "netns", PROVIDER_ID_LABEL: "shk-batch-1"},
    },
    "Description": {
        "Hostname": "batch-1",
        "Resources": {"NanoCPUs": 4_000_000_000, "MemoryBytes": 8 << 30},
    },
    "Status": {"State": "ready", "Addr": "10.0.0.5"},
}


def task(state: str, cpus: int = 0, memory: int = 0) -> dict[str, Any]:
    reservations = {"NanoCPUs": cpus, "MemoryBytes": memory}
    return {"Status": {"State": state}, "Spec": {"Resources": {"Reservations": reservations}}}


def test_a_node_and_its_tasks_become_a_host() -> None:
    tasks = [task("running", 500_000_000, 1 << 30), task("starting", 250_000_000)]
    host = node_host(NODE, tasks, self_id="n1")
    assert (host.id, host.name, host.state, host.availability, host.role) == (
        "n1", "batch-1", "ready", "drain", "worker",
    )  # fmt: skip
    assert (host.provider, host.provider_id, host.address) == ("netns", "shk-batch-1", "10.0.0.5")
    assert host.user_labels() == {"group": "batch"}
    assert host.created == datetime(2024, 5, 1, 10, 20, 30, 123456, tzinfo=UTC)
    assert host.is_self
    load = host.load
    assert (load.running_tasks, load.cpu_reserved, load.cpu_total) == (1, 0.75, 4.0)
    assert (load.memory_reserved, load.memory_total) == (1 << 30, 8 << 30)


def test_a_bare_node_is_a_host_made_by_no_provider() -> None:
    host = node_host({"ID": "n2", "CreatedAt": "2024-05-01T10:20:30.5Z"}, [], self_id=None)
    assert (host.name, host.state, host.availability, host.role) == (
        "n2", "unknown", "active", "worker",
    )  # fmt: skip
    assert host.provider is None
    assert host.removable() == "no provider made it, so none can destroy it"
    assert not host.is_self


def test_node_times_in_any_precision_and_zone() -> None:
    def created(text: str) -> datetime:
        return node_host({"ID": "n", "CreatedAt": text}, [], self_id=None).created

    assert created("2024-05-01T10:20:30Z") == datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC)
    assert created("2024-05-01T10:20:30.5Z").microsecond == 500_000
    plus_two = created("2024-05-01T12:20:30.123456789+02:00")
    assert plus_two == datetime(2024, 5, 1, 10, 20, 30, 123456, tzinfo=UTC)
