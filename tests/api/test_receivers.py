"""The management API of receivers, against a real server: auth, validation, lifecycle."""

from __future__ import annotations

import httpx
import pytest

from scalehook.testing import ServerProcess


def hook(url: str, **kwargs: object) -> httpx.Response:
    return httpx.post(url, timeout=30, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/receivers"),
        ("POST", "/v1/receivers"),
        ("GET", "/v1/receivers/1"),
        ("PATCH", "/v1/receivers/1"),
        ("DELETE", "/v1/receivers/1"),
        ("POST", "/v1/receivers/1/rotate"),
        ("GET", "/v1/services"),
        ("GET", "/v1/services/web"),
        ("POST", "/v1/services/web/scale"),
        ("GET", "/v1/executions"),
    ],
)
@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Basic dXNlcjpwYXNz", "Bearer"])
def test_management_routes_need_the_admin_token(
    web_server: ServerProcess, method: str, path: str, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = httpx.request(method, web_server.url + path, headers=headers, json={})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"] == "unauthorized"
    assert response.json()["message"]


def test_open_routes_need_no_token(web_server: ServerProcess) -> None:
    assert httpx.get(web_server.url + "/healthz").json()["status"] == "ok"
    assert "scalehook_triggers_total" in httpx.get(web_server.url + "/metrics").text
    assert httpx.get(web_server.url + "/openapi.json").status_code == 200
    assert httpx.get(web_server.url + "/docs").status_code == 200


def test_create_returns_the_url_once(web_server: ServerProcess) -> None:
    response = web_server.client.post(
        "/v1/receivers",
        json={
            "name": "once",
            "driver": "scaleService",
            "config": {"service": "web", "action": "up", "amount": 1, "min": 1, "max": 3},
        },
    )
    assert response.status_code == 201
    created = response.json()
    key = created["url"].rsplit("/", 1)[1]
    assert created["url"].startswith(web_server.url + "/v1/hooks/shk_")
    assert created["config"] == {"service": "web", "action": "up", "amount": 1, "min": 1, "max": 3}
    shown = web_server.client.get(f"/v1/receivers/{created['id']}").json()
    assert "url" not in shown
    listed = web_server.client.get("/v1/receivers").text
    assert key not in listed
    assert web_server.client.get("/v1/receivers/once").json()["id"] == created["id"]
    assert key not in web_server.log()


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (
            {
                "name": "x",
                "driver": "scaleService",
                "config": {"service": "web", "action": "up", "amount": 0},
            },
            422,
            "config.amount",
        ),
        (
            {
                "name": "x",
                "driver": "scaleService",
                "config": {"service": "web", "action": "sideways"},
            },
            422,
            "config.action",
        ),
        (
            {
                "name": "x",
                "driver": "scaleService",
                "config": {"service": "web", "action": "up", "min": 4, "max": 2},
            },
            422,
            "config",
        ),
        (
            {"name": "x", "driver": "scaleService", "config": {"service": "nope", "action": "up"}},
            422,
            "config.service",
        ),
        ({"name": "x", "driver": "teleport", "config": {}}, 422, "driver"),
        ({"name": "", "driver": "scaleService", "config": {}}, 422, "name"),
        ({"name": "7digits", "driver": "scaleService", "config": {}}, 422, "name"),
        ({"driver": "scaleService", "config": {}}, 422, "name"),
        ({"name": "x", "driver": "scaleService"}, 422, "config"),
        ({"name": "x", "driver": "scaleService", "config": {}, "extra": 1}, 422, "extra"),
    ],
)
def test_bad_receivers_get_422_naming_the_field(
    web_server: ServerProcess, body: dict[str, object], status: int, field: str
) -> None:
    response = web_server.client.post("/v1/receivers", json=body)
    assert response.status_code == status, response.text
    error = response.json()
    assert error["error"] in ("invalid_request", "not_scalable")
    assert error["field"] == field
    assert error["message"].startswith(field)
    assert all(r["name"] != "x" for r in web_server.client.get("/v1/receivers").json())


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"", "application/json", 422),
        (b"[1, 2]", "application/json", 422),
        (b"name=x", "application/x-www-form-urlencoded", 422),
    ],
)
def test_malformed_bodies_get_a_clear_message(
    web_server: ServerProcess, content: bytes, content_type: str, status: int
) -> None:
    response = web_server.client.post(
        "/v1/receivers", content=content, headers={"Content-Type": content_type}
    )
    assert response.status_code == status
    assert response.json()["message"]
    assert "Traceback" not in response.text


def test_duplicate_names_conflict(web_server: ServerProcess) -> None:
    web_server.create_receiver("twin", service="web", action="up")
    response = web_server.client.post(
        "/v1/receivers",
        json={
            "name": "twin",
            "driver": "scaleService",
            "config": {"service": "web", "action": "up"},
        },
    )
    assert response.status_code == 409
    assert response.json()["field"] == "name"


def test_unknown_rotated_deleted_disabled_keys_all_get_the_same_404(
    web_server: ServerProcess,
) -> None:
    answers = []
    answers.append(hook(web_server.url + "/v1/hooks/shk_never-issued"))
    answers.append(hook(web_server.url + "/v1/hooks/" + "x" * 5000))

    rotated = web_server.create_receiver("rot", service="web", action="up", max=1)
    assert hook(rotated["url"]).status_code == 200
    new = web_server.client.post(f"/v1/receivers/{rotated['id']}/rotate").json()
    assert new["url"] != rotated["url"]
    answers.append(hook(rotated["url"]))
    assert hook(new["url"]).status_code == 200

    deleted = web_server.create_receiver("del", service="web", action="up", max=1)
    assert web_server.client.delete(f"/v1/receivers/{deleted['id']}").status_code == 204
    answers.append(hook(deleted["url"]))
    assert web_server.client.get(f"/v1/receivers/{deleted['id']}").status_code == 404

    disabled = web_server.create_receiver("dis", service="web", action="up", max=1)
    web_server.client.patch(f"/v1/receivers/{disabled['id']}", json={"enabled": False})
    answers.append(hook(disabled["url"]))
    web_server.client.patch(f"/v1/receivers/{disabled['id']}", json={"enabled": True})
    assert hook(disabled["url"]).status_code == 200

    assert {a.status_code for a in answers} == {404}
    assert len({a.text for a in answers}) == 1


def test_update_renames_and_merges_config(web_server: ServerProcess) -> None:
    created = web_server.create_receiver("before", service="web", action="up", amount=1, max=5)
    response = web_server.client.patch(
        f"/v1/receivers/{created['id']}", json={"name": "after", "config": {"amount": 2}}
    )
    assert response.status_code == 200
    updated = response.json()
    assert updated["name"] == "after"
    assert updated["config"]["amount"] == 2
    assert updated["config"]["max"] == 5
    bad = web_server.client.patch(f"/v1/receivers/{created['id']}", json={"config": {"max": -1}})
    assert bad.status_code == 422
    assert bad.json()["field"] == "config.max"
    assert web_server.client.get(f"/v1/receivers/{created['id']}").json()["config"]["max"] == 5
    assert hook(created["url"]).status_code == 200


def test_trigger_accepts_any_body_up_to_the_limit(web_server: ServerProcess) -> None:
    created = web_server.create_receiver("bodies", service="web", action="up", max=1)
    assert hook(created["url"]).status_code == 200
    assert hook(created["url"], content=b"\x00\xff" * 1000).status_code == 200
    assert hook(created["url"], content=b"x" * (1024 * 1024)).status_code == 200
    too_big = hook(created["url"], content=b"x" * (1024 * 1024 + 1))
    assert too_big.status_code == 413
    assert too_big.json()["error"] == "payload_too_large"


def test_unknown_routes_and_methods_answer_json(web_server: ServerProcess) -> None:
    assert web_server.client.get("/v1/nothing").json()["error"] == "not_found"
    response = httpx.get(web_server.url + "/v1/hooks/abc")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


def test_a_scale_receiver_with_a_secret_is_checked_at_the_trigger(
    web_server: ServerProcess,
) -> None:
    """The secret is the hook's business, whatever the driver: a CI job can sign too."""
    created = web_server.create_receiver(
        "signed-scale", service="web", action="up", max=5, secret="ci-secret-9a7b"
    )
    assert "secret" not in created["config"] and created["has_secret"] is True
    before = web_server.service("web")["desired"]

    refused = hook(created["url"])
    assert refused.status_code == 401
    assert refused.json()["error"] == "unauthorized"
    wrong = hook(created["url"], headers={"Authorization": "Bearer not-the-secret"})
    assert wrong.status_code == 401
    assert web_server.service("web")["desired"] == before

    proven = hook(created["url"], headers={"Authorization": "Bearer ci-secret-9a7b"})
    assert proven.status_code == 200, proven.text
    assert proven.json()["result"] in ("scaled", "clamped")

    trail = web_server.client.get("/v1/executions", params={"receiver": created["id"]}).json()
    assert [e["result"] for e in reversed(trail)] == [
        "rejected",
        "rejected",
        proven.json()["result"],
    ]
    stored = web_server.client.get(f"/v1/receivers/{created['id']}").json()
    assert "secret" not in stored["config"]
