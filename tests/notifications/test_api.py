"""/v1/notifications on a real server: bad input answered 4xx naming the field (and
nothing made), changes that keep what they do not name, secrets never shown."""

from __future__ import annotations

from typing import Any

import pytest

from scalehook.testing import ServerProcess

SMTP = {
    "host": "smtp.example.org",
    "username": "scalehook",
    "password": "api-smtp-password-1",
    "from": "scalehook@example.org",
    "to": ["ops@example.org"],
}


@pytest.mark.parametrize(
    ("body", "status", "field", "says"),
    [
        ({"type": "webhook", "url": "https://h.example/x"}, 422, "name", "required"),
        ({"name": "n", "url": "https://h.example/x"}, 422, "type", "required"),
        ({"name": "n", "type": "pager", "url": "https://h.example/x"}, 422, "type", "webhook"),
        ({"name": "n", "type": "webhook"}, 422, "url", "required"),
        ({"name": "n", "type": "webhook", "url": "ftp://h.example/x"}, 422, "url", "http"),
        ({"name": "n", "type": "webhook", "url": "https:///x"}, 422, "url", "host"),
        ({"name": "n", "type": "webhook", "url": "hooks.example/x"}, 422, "url", "http"),
        ({"name": "n", "type": "slack", "url": "slack"}, 422, "url", "http"),
        (
            {"name": "n", "type": "webhook", "url": "https://h.example", "secret": "short"},
            422,
            "secret",
            "at least 8",
        ),
        (
            {"name": "n", "type": "webhook", "url": "https://h.example", "smtp": SMTP},
            422,
            "smtp",
            "an email notification, not of a webhook",
        ),
        (
            {"name": "n", "type": "slack", "url": "https://h.example", "secret": "12345678"},
            422,
            "secret",
            "a webhook notification, not of a slack",
        ),
        ({"name": "n", "type": "email", "url": "https://h.example"}, 422, "url", "of an email one"),
        (
            {"name": "n", "type": "email", "smtp": {**SMTP, "host": None}},
            422,
            "smtp.host",
            "required",
        ),
        (
            {"name": "n", "type": "email", "smtp": {k: v for k, v in SMTP.items() if k != "host"}},
            422,
            "smtp.host",
            "required",
        ),
        (
            {"name": "n", "type": "email", "smtp": {**SMTP, "host": "smtp://x"}},
            422,
            "smtp.host",
            "host",
        ),
        ({"name": "n", "type": "email", "smtp": {**SMTP, "port": 0}}, 422, "smtp.port", "1"),
        ({"name": "n", "type": "email", "smtp": {**SMTP, "to": []}}, 422, "smtp.to", "at least 1"),
        (
            {"name": "n", "type": "email", "smtp": {**SMTP, "to": ["nobody"]}},
            422,
            "smtp.to.0",
            "mail address",
        ),
        (
            {"name": "n", "type": "email", "smtp": {**SMTP, "from": "a\nb@c"}},
            422,
            "smtp.from",
            "mail address",
        ),
        (
            {"name": "n", "type": "email", "smtp": {**SMTP, "hots": "x"}},
            422,
            "smtp.hots",
            "not a field",
        ),
        (
            {"name": "n", "type": "email", "smtp": {**SMTP, "starttls": False}},
            422,
            "smtp.starttls",
            "in clear",
        ),
        (
            {"name": "n", "type": "email", "smtp": {**SMTP, "password_file": "/run/p"}},
            422,
            "smtp.password_file",
            "not both",
        ),
        (
            {"name": "n", "type": "email", "smtp": {**SMTP, "username": None}},
            422,
            "smtp.username",
            "needs a username",
        ),
        (
            {"name": "n", "type": "webhook", "url": "https://h.example", "on": {"status": "x"}},
            422,
            "on.status",
            "not a filter (use result, driver, service, receiver)",
        ),
        (
            {
                "name": "n",
                "type": "webhook",
                "url": "https://h.example",
                "on": {"result": ["exploded"]},
            },
            422,
            "on.result",
            "'exploded' is not a result",
        ),
        (
            {
                "name": "n",
                "type": "webhook",
                "url": "https://h.example",
                "on": {"result": "upgrading"},
            },
            422,
            "on.result",
            "notifies when it ends",
        ),
        (
            {"name": "n", "type": "webhook", "url": "https://h.example", "on": [1]},
            422,
            "on",
            "object",
        ),
        (
            {"name": "n", "type": "webhook", "url": "https://h.example", "colour": "red"},
            422,
            "colour",
            "",
        ),
        ({"name": "9lives", "type": "webhook", "url": "https://h.example"}, 422, "name", ""),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field_and_makes_nothing(
    web_server: ServerProcess, body: dict[str, Any], status: int, field: str, says: str
) -> None:
    answer = web_server.client.post("/v1/notifications", json=body)
    assert answer.status_code == status, answer.text
    error = answer.json()
    assert error["field"] == field, error
    assert says in error["message"], error
    assert set(error) >= {"error", "message", "field"}
    assert web_server.client.get("/v1/notifications/n").status_code == 404


def test_create_show_change_and_delete_keep_secrets_to_themselves(
    web_server: ServerProcess,
) -> None:
    client = web_server.client
    made = client.post(
        "/v1/notifications",
        json={"name": "api-mail", "type": "email", "smtp": SMTP, "on": {"result": "failed"}},
    )
    assert made.status_code == 201, made.text
    shown = made.json()
    assert shown["smtp"] == {
        "host": "smtp.example.org",
        "port": 587,
        "starttls": True,
        "username": "scalehook",
        "from": "scalehook@example.org",
        "to": ["ops@example.org"],
    }
    assert shown["has_password"] is True
    assert shown["on"] == {"result": ["failed"]}
    assert (
        client.post(
            "/v1/notifications",
            json={"name": "api-mail", "type": "slack", "url": "https://s.example"},
        ).json()["field"]
        == "name"
    )  # 409: the name is taken

    # A change of the port keeps the password; a new filter replaces the old one.
    changed = client.patch(
        "/v1/notifications/api-mail", json={"smtp": {"port": 2525}, "on": {"service": "web"}}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["smtp"]["port"] == 2525 and changed.json()["has_password"] is True
    assert changed.json()["on"] == {"service": ["web"]}
    assert (
        client.patch("/v1/notifications/api-mail", json={"smtp": {"host": ""}}).json()["field"]
        == "smtp.host"
    )
    assert client.get("/v1/notifications/api-mail").json()["smtp"]["host"] == "smtp.example.org"

    # Another type starts its fields anew: the SMTP settings go, a webhook's are needed.
    refused = client.patch("/v1/notifications/api-mail", json={"type": "webhook"})
    assert (refused.status_code, refused.json()["field"]) == (422, "url")
    webhook = client.patch(
        "/v1/notifications/api-mail",
        json={"type": "webhook", "url": "https://h.example/x", "secret": "api-webhook-secret"},
    ).json()
    assert (webhook["type"], webhook["url"], webhook["has_secret"]) == (
        "webhook",
        "https://h.example/x",
        True,
    )
    assert webhook["smtp"] is None
    unsigned = client.patch("/v1/notifications/api-mail", json={"secret": None}).json()
    assert unsigned["has_secret"] is False

    slack = client.post(
        "/v1/notifications",
        json={"name": "api-chat", "type": "slack", "url": "https://hooks.example/T/B/api-slack-1"},
    ).json()
    assert slack["has_url"] is True and slack["url"] is None
    listed = client.get("/v1/notifications").text + client.get("/v1/notifications/api-chat").text
    for secret in ("api-smtp-password-1", "api-webhook-secret", "api-slack-1"):
        assert secret not in listed + str(changed.json()) + str(webhook)

    by_id = client.get(f"/v1/notifications/{slack['id']}").json()
    assert by_id["name"] == "api-chat"
    assert client.get("/v1/notifications/api-chat/deliveries").json() == []
    assert client.get("/v1/notifications/api-chat/deliveries?status=lost").status_code == 422
    for name in ("api-mail", "api-chat"):
        assert client.delete(f"/v1/notifications/{name}").status_code == 204
        assert client.get(f"/v1/notifications/{name}").json()["error"] == "notification_not_found"


def test_every_route_needs_the_admin_token_and_has_an_operation_id(
    web_server: ServerProcess,
) -> None:
    import httpx

    assert httpx.get(f"{web_server.url}/v1/notifications", timeout=30).status_code == 401
    spec = web_server.client.get("/openapi.json").json()
    ids = {
        op["operationId"]
        for path, methods in spec["paths"].items()
        if path.startswith("/v1/notifications")
        for op in methods.values()
    }
    assert ids == {
        "createNotification",
        "listNotifications",
        "getNotification",
        "updateNotification",
        "deleteNotification",
        "listNotificationDeliveries",
        "retryNotificationDeliveries",
    }
