"""A policy on a host group, on a real multi-node Swarm (the netns lab): the ``capacity``
source reads the group's task slots (``scalehook.max_tasks``), the group grows by a
clone of its host before the service stops fitting, and shrinks (drained) when the
tasks are gone, each step recorded as the policy's execution."""

from __future__ import annotations

from typing import Any

from scalehook.testing import ServerProcess, wait_until
from tests.hosts.lab import IMAGE, SwarmLab
from tests.policies.conftest import scaled_by

GROUP = {"group": "slots"}


def group(server: ServerProcess) -> list[dict[str, Any]]:
    response = server.client.get("/v1/hosts", params={"selector": "group=slots"})
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()
    return found


def ready_names(server: ServerProcess) -> list[str]:
    return sorted(h["name"] for h in group(server) if h["state"] == "ready")


def running(lab: SwarmLab, service: str) -> int:
    return sum(t["Status"]["State"] == "running" for t in lab.tasks(service))


def test_a_capacity_policy_grows_the_group_before_it_is_full_and_shrinks_it_after(
    host_server: ServerProcess, lab: SwarmLab
) -> None:
    made = host_server.client.post(
        "/v1/hosts",
        json={"provider": "netns", "labels": {**GROUP, "scalehook.max_tasks": "2"}},
        timeout=300,
    )
    assert made.status_code == 201, made.text
    first = made.json()["name"]
    lab.docker(
        "service", "create", "-q", "--name", "slotted", "--replicas", "2",
        "--constraint", "node.labels.group==slots", "--network", "host",
        "--stop-grace-period", "1s", IMAGE, "sleep", "3600",
    )  # fmt: skip
    try:
        wait_until(lambda: running(lab, "slotted") == 2, timeout=180, what="2 tasks running")
        policy = {
            "name": "slots",
            "hosts": {"selector": GROUP, "drain_timeout": "60s"},
            "min": 1,
            "max": 2,
            "interval": "2s",
            "metrics": [{"name": "used", "source": "capacity", "metric": "used", "target": 75}],
            "behavior": {"down": {"stabilization": "0s"}},
        }
        created = host_server.client.post("/v1/policies", json=policy)
        assert created.status_code == 201, created.text
        assert created.json()["target"] == "hosts/group=slots"
        assert created.json()["warnings"] == []

        # 2 tasks in 2 slots: 100 % against 75 → a second host, cloned from the first (a
        # host is listed ready a moment before its execution is recorded: wait for that)
        (grown,) = scaled_by(host_server, "slots", timeout=300, what="the policy's scale-up")
        assert len(ready_names(host_server)) == 2
        assert (grown["driver"], grown["target"]) == ("policy", "hosts/group=slots")
        assert (grown["before"], grown["after"]) == (1, 2)
        assert grown["details"]["cloned"] == first
        (second,) = grown["details"]["created"]
        assert grown["details"]["metrics"][0]["value"] == 100.0
        clone = next(n for n in lab.nodes() if n["Description"]["Hostname"] == second)
        assert clone["Spec"]["Labels"]["scalehook.max_tasks"] == "2"  # the clone has slots
        # now 2 of 4 slots: 50 % against 75 wants ceil(2 * 0.67) = 2: it stays
        settled = wait_until(
            lambda: next(
                (
                    e
                    for e in host_server.client.get("/v1/policies/slots").json()["evaluations"]
                    if e["current"] == 2
                ),
                None,
            ),
            timeout=60,
            what="an evaluation at 2 hosts",
        )
        assert settled is not None
        assert (settled["action"], settled["desired"]) == ("none", 2), settled
        assert settled["metrics"][0]["value"] == 50.0

        # the tasks go: 0 % → back to min, the emptiest host drained and removed
        lab.docker("service", "scale", "-d", "slotted=0")
        shrunk = scaled_by(
            host_server,
            "slots",
            lambda e: e["after"] < e["before"],
            timeout=300,
            what="the policy's scale-down",
        )
        assert [(e["before"], e["after"]) for e in shrunk] == [(2, 1)]
        (removed,) = shrunk[0]["details"]["removed"]
        assert removed["why"] == "least_busy"
        left = {h["name"] for h in group(host_server)}
        assert len(left) == 1 and removed["host"] not in left
        assert all(n["Description"]["Hostname"] != removed["host"] for n in lab.nodes())
    finally:
        host_server.client.delete("/v1/policies/slots")
        lab.docker("service", "rm", "slotted", check=False)


def test_a_capacity_policy_on_a_group_without_hosts_is_taken_with_a_warning(
    host_server: ServerProcess,
) -> None:
    policy = {
        "name": "empty-slots",
        "hosts": {"selector": {"group": "nobody-here"}},
        "min": 1,
        "max": 3,
        "metrics": [{"name": "used", "source": "capacity", "metric": "used", "target": 75}],
        "paused": True,
    }
    created = host_server.client.post("/v1/policies", json=policy)
    assert created.status_code == 201, created.text
    (warning,) = created.json()["warnings"]
    assert "has no host yet" in warning
    host_server.client.delete("/v1/policies/empty-slots")
