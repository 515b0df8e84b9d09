"""The alert options, dry-run and pause through the CLI, against a real server."""

from __future__ import annotations

import json

from scalehook.testing import ServerProcess
from tests.alerts.notifications import am_alert, notification
from tests.cli.test_cli import run


def test_alert_receiver_through_the_cli(web_server: ServerProcess) -> None:
    created = json.loads(
        run(
            web_server,
            "receivers",
            "create",
            "cli-alerts",
            "--service",
            "web",
            "--action",
            "up",
            "--max",
            "4",
            "--on-resolved",
            "down",
            "--cooldown-up",
            "1m",
            "--match",
            "severity=page,team",
            "--per-alert",
            "--dry-run",
            "--json",
        ).stdout
    )
    assert created["dry_run"] is True
    assert created["config"]["on_resolved"] == "down"
    assert created["config"]["cooldown"] == {"up": 60.0, "down": 0.0}
    assert created["config"]["match"] == {"severity": "page", "team": ""}
    assert created["config"]["per_alert"] is True

    table = run(web_server, "receivers", "list").stdout
    header = table.splitlines()[0]
    assert "DRY-RUN" in header and "PAUSED" in header

    body = json.dumps(notification(am_alert("HighLoad", severity="page", team="a")))
    fired = json.loads(
        run(web_server, "receivers", "trigger", created["url"], "-d", body, "--json").stdout
    )
    assert fired["result"] == "dry_run"

    paused = json.loads(
        run(web_server, "receivers", "update", "cli-alerts", "--pause", "--live", "--json").stdout
    )
    assert (paused["paused"], paused["dry_run"]) == (True, False)
    answered = json.loads(run(web_server, "receivers", "trigger", created["url"], "--json").stdout)
    assert answered["result"] == "paused"
    resumed = json.loads(
        run(web_server, "receivers", "update", "cli-alerts", "--resume", "--json").stdout
    )
    assert resumed["paused"] is False

    bad = run(
        web_server,
        "receivers",
        "trigger",
        created["url"],
        "-d",
        '{"alerts": 1, "version": "4"}',
        ok=False,
    )
    assert bad.returncode == 1 and "400: Alertmanager body: alerts: must be a list" in bad.stderr
