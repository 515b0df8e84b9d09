"""Host scaling on a real multi-node Swarm: netns workers joined to a real manager.

The tests run in order and share the workers they make (each costs an engine start).
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

import httpx
import pytest

from scalehook.testing import ServerProcess, wait_until
from tests.api.test_metrics import scrape, value
from tests.hosts.lab import IMAGE, SwarmLab


def group(server: ServerProcess, selector: str = "group=batch") -> list[dict[str, Any]]:
    response = server.client.get("/v1/hosts", params={"selector": selector})
    response.raise_for_status()
    hosts: list[dict[str, Any]] = response.json()
    return hosts


def names(hosts: list[dict[str, Any]]) -> list[str]:
    return sorted(h["name"] for h in hosts)


def node_by_name(lab: SwarmLab, name: str) -> dict[str, Any]:
    return next(n for n in lab.nodes() if n["Description"]["Hostname"] == name)


def running_nodes(lab: SwarmLab, service: str) -> list[str]:
    ids = {n["ID"]: n["Description"]["Hostname"] for n in lab.nodes()}
    return sorted(
        ids.get(t["NodeID"], "?") for t in lab.tasks(service) if t["Status"]["State"] == "running"
    )


def receiver(server: ServerProcess, name: str, **config: Any) -> str:
    created = server.client.post(
        "/v1/receivers",
        json={
            "name": name,
            "driver": "scaleHost",
            "config": {"selector": {"group": "batch"}, **config},
        },
    )
    assert created.status_code == 201, created.text
    url: str = created.json()["url"]
    return url


def test_first_host_is_made_by_hand(host_server: ServerProcess, lab: SwarmLab) -> None:
    response = host_server.client.post(
        "/v1/hosts", json={"provider": "netns", "labels": {"group": "batch"}}, timeout=300
    )
    assert response.status_code == 201, response.text
    host = response.json()
    assert (host["name"], host["state"], host["provider"]) == ("batch-1", "ready", "netns")
    assert host["labels"]["group"] == "batch"
    node = node_by_name(lab, "batch-1")
    assert node["Status"]["State"] == "ready"
    assert node["Spec"]["Labels"]["group"] == "batch"
    listed = group(host_server)
    assert [h["name"] for h in listed] == ["batch-1"]
    assert {"id", "name", "state", "labels", "provider", "created", "load"} <= set(listed[0])
    assert listed[0]["cloneable"] is True
    everything = host_server.client.get("/v1/hosts").json()
    manager = next(h for h in everything if h["role"] == "manager")
    assert manager["removable"] is False
    assert manager["provider"] is None


def test_scale_up_clones_until_max(host_server: ServerProcess, lab: SwarmLab) -> None:
    url = receiver(host_server, "batch-up", action="up", amount=2, max=4)
    first = httpx.post(url, timeout=300).json()
    assert (first["result"], first["before"], first["after"]) == ("scaled", 1, 3)
    assert first["details"]["cloned"] == "batch-1"
    assert first["details"]["created"] == ["batch-2", "batch-3"]
    assert names(group(host_server)) == ["batch-1", "batch-2", "batch-3"]
    for name in ("batch-2", "batch-3"):
        node = node_by_name(lab, name)
        assert node["Status"]["State"] == "ready"
        assert node["Spec"]["Labels"]["group"] == "batch"
    second = httpx.post(url, timeout=300).json()
    assert (second["result"], second["before"], second["after"]) == ("clamped", 3, 4)
    third = httpx.post(url, timeout=300).json()
    assert (third["result"], third["after"]) == ("noop", 4)
    assert names(group(host_server)) == ["batch-1", "batch-2", "batch-3", "batch-4"]
    samples = scrape(host_server)  # the receiver's group, by state, in /metrics
    assert value(samples, "scalehook_hosts", group="group=batch", state="ready") == 4
    assert value(samples, "scalehook_hosts_up") == 1

    lab.docker(
        "service",
        "create",
        "-q",
        "--name",
        "spread",
        "--replicas",
        "8",
        "--constraint",
        "node.labels.group==batch",
        "--network",
        "host",
        "--stop-grace-period",
        "1s",
        IMAGE,
        "sleep",
        "3600",
    )
    wait_until(lambda: len(running_nodes(lab, "spread")) == 8, what="8 spread tasks")
    assert set(running_nodes(lab, "spread")) == {"batch-1", "batch-2", "batch-3", "batch-4"}


def test_a_down_host_is_removed_first(host_server: ServerProcess, lab: SwarmLab) -> None:
    state_dir = host_server.config["hosts"]["providers"]["netns"]["state_dir"]
    from tests.hosts.lab import stop_worker_engine

    stop_worker_engine(state_dir, "batch-2")
    wait_until(
        lambda: node_by_name(lab, "batch-2")["Status"]["State"] == "down", what="batch-2 down"
    )
    listed = {h["name"]: h for h in group(host_server)}
    assert listed["batch-2"]["state"] == "down"
    assert listed["batch-2"]["cloneable"] is False
    url = receiver(
        host_server, "batch-down", action="down", amount=1, min=1, remove_policy="newest"
    )
    execution = httpx.post(url, timeout=300).json()
    assert execution["result"] == "scaled", execution
    removed = execution["details"]["removed"]
    assert [(r["host"], r["why"]) for r in removed] == [("batch-2", "unhealthy")]
    assert names(group(host_server)) == ["batch-1", "batch-3", "batch-4"]
    assert all(n["Description"]["Hostname"] != "batch-2" for n in lab.nodes())


def test_least_busy_picks_the_emptiest_and_draining_loses_no_task(
    host_server: ServerProcess, lab: SwarmLab
) -> None:
    wait_until(lambda: len(running_nodes(lab, "spread")) == 8, what="spread back at 8")
    lab.docker("service", "rm", "spread")
    lab.docker(
        "service",
        "create",
        "-q",
        "--name",
        "work",
        "--replicas",
        "3",
        "--constraint",
        "node.labels.group==batch",
        "--constraint",
        "node.hostname!=batch-4",
        "--network",
        "host",
        "--stop-grace-period",
        "1s",
        IMAGE,
        "sleep",
        "3600",
    )
    wait_until(lambda: len(running_nodes(lab, "work")) == 3, what="3 work tasks")
    wait_until(
        lambda: (
            {h["name"]: h["load"]["running_tasks"] for h in group(host_server)}.get("batch-4") == 0
        ),
        what="batch-4 empty",
    )
    url = receiver(host_server, "batch-trim", action="down", amount=1, min=1)
    execution = httpx.post(url, timeout=300).json()
    assert [r["host"] for r in execution["details"]["removed"]] == ["batch-4"]
    assert execution["details"]["policy"] == "least_busy"

    # A host with tasks is drained before it goes: its tasks run elsewhere, none lost.
    lab.docker("service", "update", "-q", "--constraint-rm", "node.hostname!=batch-4", "work")
    wait_until(lambda: len(running_nodes(lab, "work")) == 3, what="work settled")
    busy = max(group(host_server), key=lambda h: h["load"]["running_tasks"])
    assert busy["load"]["running_tasks"] > 0
    response = host_server.client.delete(f"/v1/hosts/{busy['id']}", timeout=300)
    assert response.status_code == 200, response.text
    report = response.json()["details"]["removed"][0]
    assert report["drained"] is True
    assert report["tasks_before"] == busy["load"]["running_tasks"]
    survivors = running_nodes(lab, "work")
    assert len(survivors) == 3
    assert busy["name"] not in survivors
    assert len(group(host_server)) == 1


def test_manager_and_protected_hosts_are_never_removed(
    host_server: ServerProcess, lab: SwarmLab
) -> None:
    lab.docker("service", "rm", "work")
    url = receiver(host_server, "batch-regrow", action="up", amount=1, max=2)
    assert httpx.post(url, timeout=300).json()["result"] == "scaled"
    last = group(host_server)[-1]
    lab.docker("node", "update", "--label-add", "scalehook.protected=true", last["id"])
    manager = next(n for n in lab.nodes() if n["Spec"]["Role"] == "manager")
    lab.docker("node", "update", "--label-add", "group=batch", manager["ID"])
    try:
        before = names(group(host_server))
        assert len(before) == 3  # the manager is in the group now
        url = receiver(host_server, "batch-purge", action="down", amount=5, min=0)
        execution = httpx.post(url, timeout=300).json()
        kept = {k["host"]: k["reason"] for k in execution["details"]["kept"]}
        assert "manager" in kept[manager["Description"]["Hostname"]]
        assert "scalehook.protected" in kept[last["name"]]
        removed = [r["host"] for r in execution["details"]["removed"]]
        assert last["name"] not in removed
        assert manager["Description"]["Hostname"] not in removed
        after = names(group(host_server))
        assert last["name"] in after
        assert manager["Description"]["Hostname"] in after
        for ident in (manager["ID"], last["id"]):
            refused = host_server.client.delete(f"/v1/hosts/{ident}", timeout=300)
            assert refused.status_code == 409
            assert "never removed" in refused.json()["message"]
    finally:
        lab.docker("node", "update", "--label-rm", "group", manager["ID"])
        lab.docker("node", "update", "--label-rm", "scalehook.protected", last["id"])


def test_a_dry_run_receiver_plans_and_changes_nothing(host_server: ServerProcess) -> None:
    before = names(group(host_server))
    created = host_server.client.post(
        "/v1/receivers",
        json={
            "name": "batch-rehearsal",
            "driver": "scaleHost",
            "dry_run": True,
            "config": {"selector": {"group": "batch"}, "action": "up", "amount": 2, "max": 9},
        },
    ).json()
    recorded = httpx.post(created["url"], timeout=300).json()
    assert recorded["result"] == "dry_run"
    assert recorded["details"]["would"] == "scaled"
    assert len(recorded["details"]["names"]) == 2
    assert recorded["after"] == recorded["before"] + 2
    assert names(group(host_server)) == before


def test_min_and_max_hold_under_20_concurrent_triggers(
    host_server: ServerProcess, lab: SwarmLab
) -> None:
    start = len(group(host_server))
    up = receiver(host_server, "batch-storm-up", action="up", amount=1, max=start + 1)
    down = receiver(host_server, "batch-storm-down", action="down", amount=1, min=start)

    def fire(url: str) -> httpx.Response:
        return httpx.post(url, timeout=600)

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        ups = list(pool.map(fire, [up] * 20))
    assert [r.status_code for r in ups] == [200] * 20
    assert sum(r.json()["result"] == "scaled" for r in ups) == 1
    assert len(group(host_server)) == start + 1
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        downs = list(pool.map(fire, [down] * 20))
    assert [r.status_code for r in downs] == [200] * 20
    assert sum(r.json()["result"] == "scaled" for r in downs) == 1
    assert len(group(host_server)) == start
    history = host_server.client.get(
        "/v1/executions", params={"receiver": "batch-storm-up", "limit": 100}
    ).json()
    assert len(history) == 20


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"provider": "aws", "labels": {"group": "x"}}, "provider"),
        ({"provider": "netns", "labels": {"scalehook.provider": "x"}}, "labels"),
        ({"provider": "netns", "labels": {}, "name": "Bad Name"}, "name"),
    ],
)
def test_bad_host_requests_are_refused(
    host_server: ServerProcess, body: dict[str, Any], field: str
) -> None:
    response = host_server.client.post("/v1/hosts", json=body)
    assert response.status_code == 422
    assert response.json()["field"] == field


def test_bad_receivers_are_refused(host_server: ServerProcess) -> None:
    for config, field in (
        ({"selector": {}, "action": "up"}, "config.selector"),
        (
            {"selector": {"group": "batch"}, "action": "up", "remove_policy": "random"},
            "config.remove_policy",
        ),
        ({"selector": {"group": "batch"}, "action": "up", "min": 3, "max": 1}, "config"),
    ):
        response = host_server.client.post(
            "/v1/receivers", json={"name": "bad", "driver": "scaleHost", "config": config}
        )
        assert response.status_code == 422
        assert response.json()["field"] == field


def test_every_host_action_is_in_the_audit_trail(host_server: ServerProcess) -> None:
    history = host_server.client.get("/v1/executions", params={"limit": 1000}).json()
    host_actions = [e for e in history if (e["target"] or "").startswith("hosts/")]
    by_receiver = {e["receiver_name"] for e in host_actions}
    assert {"batch-up", "batch-down", "batch-trim", None} <= by_receiver
    cloned = [e for e in host_actions if e["details"].get("created")]
    assert all(e["details"].get("cloned") or e["driver"] == "api" for e in cloned)
    removed = [r for e in host_actions for r in e["details"].get("removed", [])]
    assert {"host", "why", "drained"} <= set(removed[0])
    assert all(e["before"] is not None and e["after"] is not None for e in host_actions)


def test_the_cli_lists_and_adds_hosts(host_server: ServerProcess) -> None:
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("SCALEHOOK_")}
    env.update(SCALEHOOK_URL=host_server.url, SCALEHOOK_TOKEN=host_server.token)

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "scalehook", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    made = json.loads(cli("hosts", "add", "--provider", "netns", "--label", "group=cli", "--json"))
    assert (made["name"], made["state"], made["labels"]["group"]) == ("cli-1", "ready", "cli")
    table = cli("hosts", "list", "--selector", "group=cli")
    assert "cli-1" in table and "ready" in table and "netns" in table
    removed = json.loads(cli("hosts", "remove", "cli-1", "--json"))
    assert removed["result"] == "scaled"
    assert json.loads(cli("hosts", "list", "-l", "group=cli", "--json")) == []


def test_a_clone_failing_half_way_is_recorded_with_what_exists(
    lab: SwarmLab, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from tests.hosts.lab import SPARE_POOL, destroy_workers, worker_settings

    state = tmp_path_factory.mktemp("tiny-workers")
    settings = {**worker_settings(state), "pool": SPARE_POOL}
    server = ServerProcess(
        tmp_path_factory.mktemp("tiny-server"),
        {"hosts": {"docker_host": lab.docker_host, "providers": {"netns": settings}}},
    )
    server.start()
    try:
        first = server.client.post(
            "/v1/hosts", json={"provider": "netns", "labels": {"group": "tiny"}}, timeout=300
        )
        assert first.status_code == 201, first.text
        created = server.client.post(
            "/v1/receivers",
            json={
                "name": "tiny-up",
                "driver": "scaleHost",
                "config": {"selector": {"group": "tiny"}, "action": "up", "amount": 3, "max": 9},
            },
        ).json()
        response = httpx.post(created["url"], timeout=300)
        assert response.status_code == 502
        error = response.json()
        assert "no free address" in error["message"]
        execution = server.client.get(
            "/v1/executions", params={"receiver": "tiny-up", "limit": 1}
        ).json()[0]
        assert execution["id"] == error["execution_id"]
        assert execution["result"] == "failed"
        assert (execution["before"], execution["after"]) == (1, 2)
        assert execution["details"]["created"] == ["tiny-2"]
        assert execution["details"]["failed"]["host"] == "tiny-3"
        assert "the group has 2 hosts now" in execution["message"]
        hosts = server.client.get("/v1/hosts", params={"selector": "group=tiny"}).json()
        assert sorted(h["name"] for h in hosts) == ["tiny-1", "tiny-2"]
        assert all(h["state"] == "ready" for h in hosts)
    finally:
        server.close()
        destroy_workers(state)
