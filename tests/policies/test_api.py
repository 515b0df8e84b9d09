"""/v1/policies against a real server: the lifecycle, 422s naming the field, warnings,
simulate, the last evaluations, /metrics, dry run, and a rollout that holds a policy."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scalehook.testing import ServerProcess, wait_until
from tests.policies.conftest import (
    app_service,
    connections,
    cpu,
    desired,
    policy,
    policy_executions,
    query,
    scaled_by,
    wait_evaluations,
)
from tests.upgrades.helpers import hook, release_service, upgrade_receiver


def sleeper(replicas: int = 1) -> dict[str, Any]:
    return {"command": ["sleep", "3600"], "replicas": replicas, "stop_grace": "1s"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Services: ``web`` (behind the balancer), ``quiet`` (no port), ``shop`` (versioned)."""
    with ServerProcess(
        tmp_path_factory.mktemp("policies-api"),
        {
            "services": {
                "web": app_service(),
                "quiet": sleeper(),
                "spare": app_service(),
                "shop": release_service(replicas=2),
            }
        },
    ) as started:
        yield started


def create(server: ServerProcess, body: dict[str, Any]) -> httpx.Response:
    return server.client.post("/v1/policies", json=body)


def test_a_policy_from_create_to_delete(server: ServerProcess) -> None:
    body = policy("life", "web", connections(target=5), min=1, max=1)
    made = create(server, body)
    assert made.status_code == 201, made.text
    shown = made.json()
    assert (shown["name"], shown["service"], shown["min"], shown["max"]) == ("life", "web", 1, 1)
    assert shown["interval"] == "1s"  # as given
    assert shown["effective"]["interval"] == 1.0  # as evaluated
    assert shown["warnings"] == []
    assert create(server, body).status_code == 409

    found = wait_evaluations(server, "life", 2)
    assert found[0]["at"] > found[1]["at"]  # newest first
    first = found[0]
    assert (first["current"], first["desired"], first["action"]) == (1, 1, "none")
    assert first["metrics"][0]["name"] == "conns"
    assert [p["name"] for p in server.client.get("/v1/policies").json()] == ["life"]
    by_id = server.client.get(f"/v1/policies/{shown['id']}").json()
    assert by_id["name"] == "life"

    changed = server.client.patch("/v1/policies/life", json={"paused": True, "max": 2})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["paused"], changed.json()["max"]) == (True, 2)
    count = len(server.client.get("/v1/policies/life").json()["evaluations"])
    renamed = server.client.patch("/v1/policies/life", json={"name": "life2"})
    assert renamed.json()["name"] == "life2"
    assert server.client.get("/v1/policies/life").status_code == 404
    assert len(server.client.get("/v1/policies/life2").json()["evaluations"]) == count  # paused

    assert server.client.delete("/v1/policies/life2").status_code == 204
    gone = server.client.get("/v1/policies/life2")
    assert gone.status_code == 404 and gone.json()["error"] == "policy_not_found"
    assert server.client.delete("/v1/policies/life2").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"service": "nope"}, "service"),
        ({"metrics": [{**cpu(), "metric": "disk"}]}, "metrics[0].metric"),
        ({"metrics": [{**cpu(), "target": 0}]}, "metrics[0].target"),
        ({"metrics": [cpu(), {**cpu(name="cpu2"), "target": -5}]}, "metrics[1].target"),
        ({"interval": "5x"}, "interval"),
        ({"metrics": [query("up", 1)]}, "metrics[0].url"),  # no prometheus.url here
        ({"service": "quiet", "metrics": [connections()]}, "metrics[0].source"),  # no port
        ({"metrics": []}, "metrics"),
        ({"name": "9lives"}, "name"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    server: ServerProcess, change: dict[str, Any], field: str
) -> None:
    body = {**policy("bad", "web", cpu()), **change}
    answer = create(server, body)
    assert answer.status_code == 422, answer.text
    error = answer.json()
    assert error["field"] == field, error
    assert error["message"].startswith(field), error
    assert server.client.get("/v1/policies/bad").status_code == 404  # nothing half made


def test_min_above_max_and_a_cron_that_does_not_parse_are_refused(server: ServerProcess) -> None:
    answer = create(server, policy("bounds", "web", cpu(), min=4, max=2))
    assert answer.status_code == 422 and answer.json()["field"] == "min", answer.text
    schedule = {"name": "day", "type": "schedule", "cron": "0 25 * * *", "duration": "1h",
                "replicas": 2}  # fmt: skip
    answer = create(server, policy("cron", "web", cpu(), schedule))
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "metrics[1].cron", answer.json()


def test_a_host_group_policy_needs_host_scaling_and_reads_no_service(
    server: ServerProcess,
) -> None:
    slots = {"name": "slots", "source": "capacity", "metric": "used", "target": 75}
    body = {"name": "hosts", "hosts": {"selector": {"group": "batch"}}, "min": 1, "max": 3,
            "metrics": [slots]}  # fmt: skip
    answer = create(server, body)  # this server has no 'hosts:' section
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "hosts"
    assert "not configured" in answer.json()["message"]
    answer = create(server, {**body, "metrics": [cpu()]})
    assert answer.status_code == 422 and answer.json()["field"] == "metrics[0].source"
    answer = create(server, {**policy("svc", "web", cpu()), "metrics": [slots]})
    assert answer.status_code == 422 and answer.json()["field"] == "metrics[0].source"
    assert server.client.get("/v1/policies/hosts").status_code == 404
    # what it would decide needs no host: 7 of 8 slots used on 2 hosts → 3
    simulated = server.client.post(
        "/v1/policies/simulate",
        json={"policy": body, "current": 2,
              "samples": {"slots": [{"value": 100}, {"value": 75}]}},
    )  # fmt: skip
    assert simulated.status_code == 200, simulated.text
    assert simulated.json()["desired"] == 3


def test_a_prometheus_that_is_down_at_create_is_a_warning(server: ServerProcess) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"  # nothing listens
    answer = create(server, policy("down", "spare", query("sum(up)", 10, url=url), min=1, max=3))
    assert answer.status_code == 201, answer.text
    (warning,) = answer.json()["warnings"]
    assert "metrics[0]" in warning and "cannot be reached" in warning
    found = wait_evaluations(server, "down", 3)
    assert all(e["metrics"][0]["error"] for e in found)
    assert all(e["desired"] == e["current"] == 1 for e in found)  # holds, never reads 0
    assert server.client.delete("/v1/policies/down").status_code == 204


def test_simulate_answers_without_acting(server: ServerProcess) -> None:
    body = policy("sim", "nowhere", cpu(target=50), min=1, max=10)
    answer = server.client.post(
        "/v1/policies/simulate",
        json={
            "policy": body,
            "current": 2,
            "samples": {"cpu": [{"value": 100, "ready": True}, {"value": 100, "ready": True}]},
        },
    )
    assert answer.status_code == 200, answer.text
    simulated = answer.json()
    assert simulated["desired"] == 4 and simulated["current"] == 2
    assert simulated["winner"] == "cpu" and simulated["reasons"]
    assert simulated["metrics"][0]["value"] == 100
    assert server.client.get("/v1/policies/sim").status_code == 404  # nothing stored

    wrong = server.client.post(
        "/v1/policies/simulate",
        json={"policy": {**body, "max": "x"}, "current": 2, "samples": {}},
    )
    assert wrong.status_code == 422 and wrong.json()["field"] == "policy.max", wrong.text
    unknown = server.client.post(
        "/v1/policies/simulate", json={"policy": body, "current": 2, "samples": {"mem": []}}
    )
    assert unknown.status_code == 422 and unknown.json()["field"] == "samples.mem"


def test_metrics_export_each_value_and_the_desired_count(server: ServerProcess) -> None:
    assert create(server, policy("exported", "spare", connections(5), min=1, max=1)).status_code
    wait_evaluations(server, "exported", 2)
    text = httpx.get(server.url + "/metrics").text
    assert 'scalehook_policy_metric_value{metric="conns",policy="exported"} 0.0' in text
    assert 'scalehook_policy_desired_replicas{policy="exported"} 1.0' in text
    assert 'scalehook_policy_evaluations_total{policy="exported"}' in text
    server.client.delete("/v1/policies/exported")
    wait_until(
        lambda: 'policy="exported"' not in httpx.get(server.url + "/metrics").text,
        what="a deleted policy's series dropped",
    )


def test_dry_run_records_what_it_would_do_once_and_changes_nothing(server: ServerProcess) -> None:
    before = desired(server, "spare")
    body = policy("dry", "spare", connections(5), min=before + 2, max=before + 2, dry_run=True)
    assert create(server, body).status_code == 201
    wait_evaluations(server, "dry", 4)
    trail = policy_executions(server, "dry")
    assert [(e["result"], e["details"]["would"]) for e in trail] == [("dry_run", "scaled")]
    assert (trail[0]["before"], trail[0]["after"]) == (before, before + 2)
    assert trail[0]["message"].startswith("dry run, nothing changed")
    assert desired(server, "spare") == before
    server.client.delete("/v1/policies/dry")


def test_a_rollout_in_progress_holds_the_policy(server: ServerProcess, tmp_path: Path) -> None:
    upgrade = upgrade_receiver(server, "shop-up", batch_interval="20s")
    assert hook(upgrade["url"], {"image": "acme/app:2"}).status_code == 202
    body = policy("shop-min", "shop", connections(5), min=3, max=3)
    assert create(server, body).status_code == 201
    found = wait_evaluations(server, "shop-min", 3)
    assert all(e["desired"] == 2 for e in found), found
    held = [e for e in policy_executions(server, "shop-min") if e["result"] == "held"]
    assert len(held) == 1, held  # recorded once, not every second
    assert "rollout" in held[0]["message"] and held[0]["details"]["would"] == 3
    assert desired(server, "shop") == 2
    wait_until(
        lambda: desired(server, "shop") == 3, timeout=90, what="scaled once the rollout ends"
    )
    scaled = scaled_by(server, "shop-min")
    assert [(e["before"], e["after"]) for e in scaled] == [(2, 3)]


def test_the_policy_answer_says_why_it_last_scaled(server: ServerProcess) -> None:
    assert desired(server, "web") == 1
    body = policy("why", "web", connections(target=5), min=2, max=2)
    assert create(server, body).status_code == 201

    def scaled() -> dict[str, Any]:
        found: dict[str, Any] = server.client.get("/v1/policies/why").json()["last_scaling"] or {}
        return found

    last = wait_until(scaled, timeout=60, what="the policy's first scaling")
    assert (last["driver"], last["receiver_name"], last["result"]) == ("policy", "why", "scaled")
    assert (last["before"], last["after"]) == (1, 2)
    details = last["details"]
    assert details["policy"] == "why" and details["desired"] == 2
    (metric,) = details["metrics"]
    assert metric["name"] == "conns" and metric["value"] is not None, metric
    assert "min 2" in details["limited_by"], details
    assert details["reasons"], details
    assert "policy why: 1 -> 2" in last["message"], last
    assert last == server.client.get(f"/v1/executions/{last['id']}").json()
    answer = server.client.get("/v1/policies/why").json()
    acted = [e for e in answer["evaluations"] if e["execution_id"] == last["id"]]
    assert [e["action"] for e in acted] == ["scaled"], answer["evaluations"]
    assert acted[0]["limited_by"] == details["limited_by"]
    assert acted[0]["metrics"] == details["metrics"]
    listed = server.client.get("/v1/policies").json()
    assert all(p["last_scaling"] is None for p in listed)  # only one policy's answer reads it
    server.client.delete("/v1/policies/why")
