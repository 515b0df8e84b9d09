"""Resources changes are revisions, and rollback puts limits back: a real ``scalehook
serve`` on the local backend; the limits read back from the API and, where the kernel
enforces them, from each replica's cgroup files."""

from __future__ import annotations

from typing import Any

from scalehook.testing import ServerProcess
from tests.cli.test_cli_resources import replica_limits
from tests.conftest import ServerFactory, web_service

MIB = 1024 * 1024


def limits(server: ServerProcess) -> tuple[Any, Any]:
    resources = server.service("web")["resources"]
    return resources["cpus"], resources["memory"]


def held(server: ServerProcess, cpus: float | None, memory: int | None) -> None:
    """The API says these limits, and the kernel holds each replica to them (if it can)."""
    assert limits(server) == (cpus, memory)
    if server.service("web")["resources"]["enforced"] != "none":
        assert replica_limits(server) == [(cpus, memory)] * 2


def test_limits_set_twice_are_revisions_and_rollback_puts_each_back(
    make_server: ServerFactory,
) -> None:
    server = make_server({"services": {"web": web_service(replicas=2)}})
    server.wait_for("web", ready=2)
    api = server.client
    first = api.post("/v1/services/web/resources", json={"cpus": 0.5, "memory": "96Mi"})
    assert first.status_code == 200, first.text
    assert first.json()["details"]["revision"] == 2
    second = api.post("/v1/services/web/resources", json={"memory": "128Mi"})
    assert second.json()["details"]["revision"] == 3
    held(server, 0.5, 128 * MIB)
    same = api.post("/v1/services/web/resources", json={"memory": "128Mi"}).json()
    assert same["result"] == "noop" and "revision" not in same["details"]

    revisions = api.get("/v1/services/web/revisions").json()
    assert [(r["number"], r["change"], r["outcome"]) for r in revisions] == [
        (1, "image", "initial"),
        (2, "resources", "updated"),
        (3, "resources", "updated"),
    ]
    assert [r["live"] for r in revisions] == [False, False, True]
    third = revisions[2]["resources"]
    assert (third["cpus"], third["memory"]) == (0.5, 128 * MIB)
    assert (third["previous"]["cpus"], third["previous"]["memory"]) == (0.5, 96 * MIB)

    back = api.post("/v1/services/web/rollback", json={"revision": 2})
    assert back.status_code == 200, back.text
    assert back.json()["result"] == "updated" and back.json()["details"]["revision"] == 4
    held(server, 0.5, 96 * MIB)

    # revision 1 recorded no limits of its own: the limits it had are those revision 2
    # replaced (none), put back by the same path
    initial = api.post("/v1/services/web/rollback", json={"revision": 1})
    assert initial.status_code == 200, initial.text
    held(server, None, None)
    revisions = api.get("/v1/services/web/revisions").json()
    assert [(r["number"], r["change"], r["rollback_of"]) for r in revisions[3:]] == [
        (4, "resources", 2),
        (5, "resources", 1),
    ]
    assert revisions[-1]["live"] and revisions[-1]["driver"] == "api"

    again = api.post("/v1/services/web/rollback", json={"revision": 1}).json()
    assert again["result"] == "noop"  # the limits it had already: nothing changed
    missing = api.post("/v1/services/web/rollback", json={"revision": 9})
    assert missing.status_code == 404 and missing.json()["field"] == "revision"
    # a rollback without a number goes to an image revision; local records no image
    default = api.post("/v1/services/web/rollback", json={})
    assert default.status_code == 409, default.text
    assert default.json()["field"] == "revision" and default.json()["message"]
    assert len(api.get("/v1/services/web/revisions").json()) == 5
