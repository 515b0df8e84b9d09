"""Revisions, rollback and upgrade by hand on the local backend: real processes, each
replica's version read from its own answer.

Versions ``1``, ``2`` and ``4`` of the test app are healthy; ``3`` never passes its
readiness check.
"""

from __future__ import annotations

from typing import Any

from scalehook.testing import ServerProcess, wait_until
from tests.conftest import ServerFactory
from tests.upgrades import bodies
from tests.upgrades.helpers import (
    execution,
    finished,
    hook,
    release_service,
    settled_versions,
    upgrade_receiver,
)


def revisions(server: ServerProcess, service: str = "web") -> list[dict[str, Any]]:
    response = server.client.get(f"/v1/services/{service}/revisions")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def by_hand(server: ServerProcess, what: str, body: dict[str, Any], status: int = 202) -> Any:
    response = server.client.post(f"/v1/services/web/{what}", json=body)
    assert response.status_code == status, response.text
    return response.json()


def push(receiver: dict[str, Any], tag: str) -> dict[str, Any]:
    response = hook(receiver["url"], bodies.dockerhub("acme/app", tag))
    assert response.status_code == 202, response.text
    started: dict[str, Any] = response.json()
    return started


def test_every_change_is_a_numbered_revision_with_its_outcome(make_server: ServerFactory) -> None:
    server = make_server({"services": {"web": release_service(replicas=2)}})
    server.wait_for("web", ready=2)
    assert revisions(server) == []  # nothing changed yet: no revision
    receiver = upgrade_receiver(server, "deploy", health_timeout="2s")
    good = finished(server, push(receiver, "2")["id"])
    assert good["result"] == "upgraded", good["message"]
    assert good["details"]["revision"] == 2
    bad = finished(server, push(receiver, "3")["id"])
    assert bad["result"] == "rolled_back", bad["message"]
    assert settled_versions(server, "web", 2) == ["2", "2"]

    found = revisions(server)
    assert [(r["number"], r["image"], r["outcome"], r["live"]) for r in found] == [
        (1, "acme/app:1", "initial", False),
        (2, "acme/app:2", "upgraded", True),
        (3, "acme/app:3", "rolled_back", False),  # kept, marked
    ]
    first, second, third = found
    assert first["reason"] == "what the service ran when scalehook first changed it"
    assert first["execution_id"] is None
    assert (second["driver"], second["receiver_name"]) == ("serviceUpgrade", "deploy")
    assert second["execution_id"] == good["id"] and third["execution_id"] == bad["id"]
    assert second["reason"].startswith("push: ")
    assert third["previous_image"] == "acme/app:2"
    assert server.client.get("/v1/services/local/web/revisions").json() == found


def test_rollback_goes_to_the_previous_revision_that_succeeded_and_back(
    make_server: ServerFactory,
) -> None:
    server = make_server({"services": {"web": release_service(replicas=2)}})
    server.wait_for("web", ready=2)
    receiver = upgrade_receiver(server, "deploy", health_timeout="2s")
    assert finished(server, push(receiver, "2")["id"])["result"] == "upgraded"
    assert finished(server, push(receiver, "3")["id"])["result"] == "rolled_back"

    started = by_hand(server, "rollback", {})  # the default: revision 1, not the broken 3
    assert (started["driver"], started["result"], started["status"]) == (
        "api",
        "upgrading",
        "running",
    )
    assert started["details"]["rollback"] == {"revision": 1, "image": "acme/app:1"}
    done = finished(server, started["id"])
    assert done["result"] == "upgraded", done["message"]
    assert done["message"] == "local/web: back on revision 1: 2 replica(s) run acme/app:1"
    assert settled_versions(server, "web", 2) == ["1", "1"]
    assert server.service("web")["image"] == "acme/app:1"

    again = finished(server, by_hand(server, "rollback", {})["id"])  # back and forth
    assert again["details"]["rollback"]["revision"] == 2, again["message"]
    assert settled_versions(server, "web", 2) == ["2", "2"]

    chosen = finished(server, by_hand(server, "rollback", {"revision": 1})["id"])
    assert chosen["result"] == "upgraded", chosen["message"]
    assert settled_versions(server, "web", 2) == ["1", "1"]
    found = revisions(server)
    assert [(r["number"], r["image"], r["rollback_of"], r["driver"]) for r in found[3:]] == [
        (4, "acme/app:1", 1, "api"),
        (5, "acme/app:2", 2, "api"),
        (6, "acme/app:1", 1, "api"),
    ]
    assert found[3]["reason"] == "rollback to revision 1"
    assert [r["live"] for r in found] == [False] * 5 + [True]
    # the revision it runs already: nothing to do, recorded
    noop = by_hand(server, "rollback", {"revision": 4}, status=200)
    assert noop["result"] == "noop"
    assert "runs acme/app:1 (revision 4) already" in noop["message"]


def test_upgrade_by_hand_rolls_through_the_same_path_as_a_push(
    make_server: ServerFactory,
) -> None:
    server = make_server({"services": {"web": release_service(replicas=4)}})
    server.wait_for("web", ready=4)
    started = by_hand(
        server,
        "upgrade",
        {"image": "acme/app:2", "strategy": {"batch_size": 2, "batch_interval": 0}},
    )
    assert (started["driver"], started["caller"]) == ("api", "127.0.0.1")
    assert started["details"]["strategy"]["batch_size"] == 2
    done = finished(server, started["id"])
    assert done["result"] == "upgraded", done["message"]
    assert [len(b["replaced"]) for b in done["details"]["batches"]] == [2, 2]
    assert settled_versions(server, "web", 4) == ["2"] * 4
    assert [(r["number"], r["image"], r["driver"], r["reason"]) for r in revisions(server)] == [
        (1, "acme/app:1", None, "what the service ran when scalehook first changed it"),
        (2, "acme/app:2", "api", "upgrade by hand"),
    ]
    # health-gated like a push: a release failing its check is rolled back
    broken = finished(
        server,
        by_hand(server, "upgrade", {"image": "acme/app:3", "strategy": {"health_timeout": "2s"}})[
            "id"
        ],
    )
    assert broken["result"] == "rolled_back", broken["message"]
    assert settled_versions(server, "web", 4) == ["2"] * 4
    assert revisions(server)[-1]["outcome"] == "rolled_back"
    # an older tag is fine by hand (no tag policy); the running one is a recorded noop
    noop = by_hand(server, "upgrade", {"image": "acme/app:2"}, status=200)
    assert noop["result"] == "noop" and "runs acme/app:2 already" in noop["message"]
    down = finished(server, by_hand(server, "upgrade", {"image": "acme/app:1"})["id"])
    assert down["result"] == "upgraded", down["message"]
    assert settled_versions(server, "web", 4) == ["1"] * 4


def test_an_upgrade_by_hand_supersedes_the_rollout_running_like_a_push(
    make_server: ServerFactory,
) -> None:
    server = make_server({"services": {"web": release_service(replicas=3)}})
    server.wait_for("web", ready=3)
    receiver = upgrade_receiver(server, "slow", batch_interval="3s")
    first = push(receiver, "2")
    wait_until(
        lambda: len(execution(server, first["id"])["details"]["batches"]) == 1,
        what="the first batch of the push's rollout",
    )
    second = by_hand(server, "upgrade", {"image": "acme/app:4", "strategy": {"batch_interval": 0}})
    assert f"supersedes execution {first['id']}" in second["message"]
    assert second["details"]["supersedes"] == first["id"]
    old = finished(server, first["id"])
    assert old["result"] == "superseded", old["message"]
    assert finished(server, second["id"])["result"] == "upgraded"
    assert settled_versions(server, "web", 3) == ["4", "4", "4"]
    assert [r["outcome"] for r in revisions(server)] == ["initial", "superseded", "upgraded"]


def test_bad_input_and_bad_timing_are_refused_with_the_field_named(
    make_server: ServerFactory,
) -> None:
    server = make_server({"services": {"web": release_service(replicas=2)}})
    server.wait_for("web", ready=2)
    client = server.client

    def refused(path: str, body: Any, status: int, field: str | None) -> dict[str, Any]:
        response = client.post(path, json=body)
        assert response.status_code == status, response.text
        answer: dict[str, Any] = response.json()
        assert answer.get("field") == field, answer
        assert set(answer) <= {"error", "message", "field", "execution_id"}
        return answer

    # nothing was ever changed: no revision to go back to
    none = refused("/v1/services/web/rollback", {}, 409, "revision")
    assert "no revisions yet" in none["message"]
    assert (
        "Acme"
        in refused("/v1/services/web/upgrade", {"image": "Acme/App:2"}, 422, "image")["message"]
    )
    other = refused("/v1/services/web/upgrade", {"image": "acme/other:2"}, 422, "image")
    assert "another repository" in other["message"]
    refused("/v1/services/web/upgrade", {"image": "acme/app"}, 422, "image")
    refused("/v1/services/web/upgrade", {}, 422, "image")
    refused("/v1/services/web/upgrade", {"image": "acme/app:2", "tag": "x"}, 422, "tag")
    refused(
        "/v1/services/web/upgrade",
        {"image": "acme/app:2", "strategy": {"batch_size": 0}},
        422,
        "strategy.batch_size",
    )
    refused(
        "/v1/services/web/upgrade",
        {"image": "acme/app:2", "strategy": {"on_failure": "explode"}},
        422,
        "strategy.on_failure",
    )
    assert refused("/v1/services/nope/upgrade", {"image": "acme/app:2"}, 404, None)["error"] == (
        "service_not_found"
    )
    refused("/v1/services/web/rollback", {"revision": 0}, 422, "revision")
    refused("/v1/services/web/rollback", {"revision": "2"}, 422, "revision")
    assert client.get("/v1/services/nope/revisions").status_code == 404

    started = by_hand(
        server, "upgrade", {"image": "acme/app:2", "strategy": {"batch_interval": "3s"}}
    )
    missing = refused("/v1/services/web/rollback", {"revision": 9}, 404, "revision")
    assert missing["error"] == "revision_not_found"
    assert "there is no revision 9: its revisions are 1 to 2" in missing["message"]
    # a rollback while a rollout runs: refused, saying which and what to do instead
    busy = refused("/v1/services/web/rollback", {"revision": 1}, 409, None)
    rollout = started["details"]["rollout_id"]
    assert f"has a rollout running (rollout {rollout}, execution {started['id']}" in busy["message"]
    assert f"POST /v1/rollouts/{rollout}/cancel" in busy["message"]
    assert finished(server, started["id"])["result"] == "upgraded"
    assert [r["number"] for r in revisions(server)] == [1, 2]  # nothing half-recorded


def test_a_rollback_to_limits_set_under_another_image_is_refused_and_changes_nothing(
    make_server: ServerFactory,
) -> None:
    server = make_server({"services": {"web": release_service(replicas=2)}})
    server.wait_for("web", ready=2)
    limited = server.client.post("/v1/services/web/resources", json={"memory": "256Mi"})
    assert limited.status_code == 200, limited.text
    assert limited.json()["details"]["revision"] == 2  # under acme/app:1
    upgraded = finished(server, by_hand(server, "upgrade", {"image": "acme/app:2"})["id"])
    assert upgraded["result"] == "upgraded", upgraded["message"]
    before = revisions(server)
    assert [(r["number"], r["change"]) for r in before] == [
        (1, "image"),
        (2, "resources"),
        (3, "image"),
    ]

    refused = server.client.post("/v1/services/web/rollback", json={"revision": 2})
    assert refused.status_code == 409, refused.text
    error = refused.json()
    assert error["field"] == "revision"
    assert "acme/app:1" in error["message"]  # it says which image the limits were set under
    assert revisions(server) == before  # no revision, no half-done change
    assert server.service("web")["image"] == "acme/app:2"
    assert server.service("web")["resources"]["memory"] == 256 * 1024 * 1024
    assert settled_versions(server, "web", 2) == ["2", "2"]
