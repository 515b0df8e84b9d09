"""``scalehook apply -f``: what a file declares, by name, idempotently."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import yaml

from scalehook.testing import ServerProcess
from tests.cli.test_cli import run


def declare(path: Path, receivers: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"receivers": receivers}))
    return path


def test_apply_creates_then_changes_nothing_then_updates_only_what_differs(
    web_server: ServerProcess, tmp_path: Path
) -> None:
    up: dict[str, Any] = {
        "name": "applied-up",
        "driver": "scaleService",
        "config": {"service": "web", "action": "up", "amount": 1, "max": 3},
    }
    signed: dict[str, Any] = {
        "name": "applied-signed",
        "driver": "scaleService",
        "config": {"service": "web", "action": "down", "secret": "git-held-secret-1"},
        "paused": True,
    }
    file = declare(tmp_path / "hooks.yaml", [up, signed])

    first = run(web_server, "apply", "-f", str(file)).stdout.splitlines()
    assert first[0].startswith("receiver applied-up: created (trigger URL http://")
    url = first[0].split("trigger URL ", 1)[1].rstrip(")")
    assert httpx.post(url, timeout=30).json()["result"] in ("scaled", "clamped")
    assert first[1].startswith("receiver applied-signed: created")

    again = run(web_server, "apply", "-f", str(file)).stdout.splitlines()
    assert again == [
        "receiver applied-up: unchanged",
        "receiver applied-signed: unchanged (secret re-sent)",
    ]
    assert httpx.post(url, timeout=30).status_code == 200  # the key did not change

    up["config"] = {**up["config"], "max": 4}
    signed["paused"] = False
    declare(file, [up, signed])
    planned = run(web_server, "apply", "-f", str(file), "--dry-run").stdout.splitlines()
    assert planned == [
        "receiver applied-up: would be updated (config)",
        "receiver applied-signed: would be updated (paused)",
    ]
    assert web_server.client.get("/v1/receivers/applied-up").json()["config"]["max"] == 3
    changed = json.loads(run(web_server, "apply", "-f", str(file), "--json").stdout)
    assert changed == [
        "receiver applied-up: updated (config)",
        "receiver applied-signed: updated (paused)",
    ]
    shown = web_server.client.get("/v1/receivers/applied-up").json()
    assert (shown["config"]["max"], shown["config"]["amount"]) == (4, 1)
    assert web_server.client.get("/v1/receivers/applied-signed").json()["paused"] is False


def test_apply_names_what_is_wrong_and_creates_nothing_wrong(
    web_server: ServerProcess, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"recievers": []}))
    done = run(web_server, "apply", "-f", str(bad), ok=False)
    assert done.returncode == 1
    assert "'recievers' is not a kind of resource (use " in done.stderr
    assert "receivers" in done.stderr.split("(use ", 1)[1]  # among the kinds, whichever exist

    declare(
        bad,
        [
            {
                "name": "no-such",
                "driver": "scaleService",
                "config": {"service": "nope", "action": "up"},
            }
        ],
    )
    done = run(web_server, "apply", "-f", str(bad), ok=False)
    assert done.returncode == 1
    assert "receivers[0]: 422: config.service:" in done.stderr
    assert web_server.client.get("/v1/receivers/no-such").status_code == 404

    declare(bad, [{"name": "typo", "drvier": "scaleService"}])
    done = run(web_server, "apply", "-f", str(bad), ok=False)
    assert "receivers[0].drvier: not a field of a receiver" in done.stderr
