"""``scalehook notifications ...`` and the ``notifications`` section of ``scalehook apply``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from scalehook.testing import ServerProcess
from tests.cli.test_cli import run


def test_notifications_through_the_cli(web_server: ServerProcess, tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("cli-webhook-secret-5e\n")
    made = run(
        web_server, "notifications", "create", "cli-ops", "--type", "webhook",
        "--url", "https://hooks.example/cli", "--secret", f"@{secret_file}",
        "--on", "result=failed,rolled_back", "--on", "service=web",
    )  # fmt: skip
    assert made.stdout.startswith("notification cli-ops (id ")
    shown = web_server.client.get("/v1/notifications/cli-ops").json()
    assert shown["has_secret"] is True
    assert shown["on"] == {"result": ["failed", "rolled_back"], "service": ["web"]}

    listed = run(web_server, "notifications", "list").stdout
    assert "cli-ops" in listed and "result=failed,rolled_back service=web" in listed
    assert "cli-webhook-secret-5e" not in listed
    record = run(web_server, "notifications", "show", "cli-ops").stdout
    assert re.search(r"^has_secret: +yes$", record, re.M), record
    assert "https://hooks.example/cli" in record and "smtp" not in record

    run(
        web_server, "notifications", "create", "cli-mail", "--type", "email",
        "--smtp", "host=smtp.example.org", "--smtp", "port=2525", "--smtp", "username=me",
        "--smtp", "password=cli-smtp-pass-1", "--smtp", "from=me@example.org",
        "--to", "a@example.org", "--to", "b@example.org",
    )  # fmt: skip
    mail = json.loads(run(web_server, "notifications", "show", "cli-mail", "--json").stdout)
    assert mail["smtp"]["port"] == 2525 and mail["smtp"]["to"] == ["a@example.org", "b@example.org"]
    assert mail["has_password"] is True

    updated = run(
        web_server, "notifications", "update", "cli-ops", "--every", "--disable", "--json"
    ).stdout
    assert (json.loads(updated)["on"], json.loads(updated)["enabled"]) == ({}, False)

    bad = run(
        web_server, "notifications", "create", "cli-bad", "--type", "email",
        "--smtp", "port=25", "--smtp", "from=me@example.org", "--to", "a@example.org", ok=False,
    )  # fmt: skip
    assert bad.returncode == 1 and "422: smtp.host: is required" in bad.stderr

    assert run(web_server, "notifications", "deliveries", "cli-ops").stdout.startswith("ID")
    assert "0 failed delivery(ies)" in run(web_server, "notifications", "retry", "cli-ops").stdout
    for name in ("cli-ops", "cli-mail"):
        assert (
            run(web_server, "notifications", "delete", name).stdout
            == f"notification {name} deleted\n"
        )


def declare(path: Path, notifications: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"notifications": notifications}, allow_unicode=True))
    return path


def test_apply_creates_notifications_then_changes_nothing_then_only_what_differs(
    web_server: ServerProcess, tmp_path: Path
) -> None:
    hook: dict[str, Any] = {
        "name": "applied-hook",
        "type": "webhook",
        "url": "https://hooks.example/applied",
        "secret": "applied-secret-1",
        "on": {"result": "failed,rolled_back", "service": ["web"]},
    }
    chat: dict[str, Any] = {
        "name": "applied-chat",
        "type": "slack",
        "url": "https://hooks.example/services/T/B/applied",
    }
    mail: dict[str, Any] = {
        "name": "applied-mail",
        "type": "email",
        "smtp": {
            "host": "smtp.example.org",
            "username": "me",
            "password": "applied-smtp-1",
            "from": "me@example.org",
            "to": "ops@example.org",
        },
    }
    file = declare(tmp_path / "notify.yaml", [hook, chat, mail])

    first = run(web_server, "apply", "-f", str(file)).stdout.splitlines()
    assert first == [
        f"notification {n}: created" for n in ("applied-hook", "applied-chat", "applied-mail")
    ]
    again = run(web_server, "apply", "-f", str(file)).stdout.splitlines()
    assert again == [
        f"notification {n}: unchanged (secret re-sent)"
        for n in ("applied-hook", "applied-chat", "applied-mail")
    ]

    hook["on"] = {"result": ["failed"]}
    mail["smtp"] = {**mail["smtp"], "port": 2525}
    declare(file, [hook, chat, mail])
    planned = run(web_server, "apply", "-f", str(file), "--dry-run").stdout.splitlines()
    assert planned == [
        "notification applied-hook: would be updated (on)",
        "notification applied-chat: would be updated (its secret, re-sent)",
        "notification applied-mail: would be updated (smtp)",
    ]
    changed = run(web_server, "apply", "-f", str(file)).stdout.splitlines()
    assert changed[0] == "notification applied-hook: updated (on)"
    assert changed[2] == "notification applied-mail: updated (smtp)"
    got = web_server.client.get("/v1/notifications/applied-mail").json()
    assert (got["smtp"]["port"], got["has_password"]) == (2525, True)
    assert web_server.client.get("/v1/notifications/applied-hook").json()["on"] == {
        "result": ["failed"]
    }

    declare(file, [{**hook, "smtp": mail["smtp"]}])
    refused = run(web_server, "apply", "-f", str(file), ok=False)
    assert "notifications[0]: 422: smtp: a field of an email notification" in refused.stderr
