"""``scalehook policies`` and the ``policies`` section of ``scalehook apply``, against a
real server."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from scalehook.testing import ServerProcess, wait_until
from tests.cli.test_cli import run
from tests.policies.conftest import app_service, connections, policy, wait_evaluations


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(
        tmp_path_factory.mktemp("policies-cli"), {"services": {"web": app_service()}}
    ) as started:
        yield started


def test_a_policy_through_the_cli(server: ServerProcess, tmp_path: Path) -> None:
    created = run(
        server, "policies", "create", "cli-cpu", "--service", "web", "--min", "1", "--max",
        "1", "--interval", "1s", "--cpu", "60",
    )  # fmt: skip
    assert created.stdout.startswith("policy cli-cpu (id ")
    shown = json.loads(run(server, "policies", "show", "cli-cpu", "--json").stdout)
    assert shown["metrics"] == [
        {"name": "cpu", "source": "engine", "metric": "cpu", "target": 60.0}
    ]
    listed = run(server, "policies", "list").stdout
    assert "cli-cpu" in listed and "web" in listed and "cpu" in listed
    wait_evaluations(server, "cli-cpu", 1)
    text = run(server, "policies", "show", "cli-cpu").stdout
    assert "last evaluations (newest first, kept in memory by the leader)" in text
    assert "ACTION" in text and "cpu=" in text
    assert "last scaling: none in the audit trail" in text

    paused = run(server, "policies", "pause", "cli-cpu").stdout
    assert re.search(r"^paused:\s+yes$", paused, re.MULTILINE), paused
    run(server, "policies", "resume", "cli-cpu")
    run(server, "policies", "dry-run", "cli-cpu")
    assert json.loads(run(server, "policies", "show", "cli-cpu", "--json").stdout)["dry_run"]
    run(server, "policies", "live", "cli-cpu")
    updated = json.loads(
        run(server, "policies", "update", "cli-cpu", "--max", "3", "--json").stdout
    )
    assert (updated["max"], updated["dry_run"], updated["paused"]) == (3, False, False)

    simulated = run(
        server, "policies", "simulate", "cli-cpu", "--current", "1", "--sample", "cpu=180"
    ).stdout
    assert simulated.startswith("desired: 3 (current 1"), simulated

    file = tmp_path / "policy.yaml"
    file.write_text(yaml.safe_dump(policy("cli-file", "web", connections(), min=1, max=1)))
    run(server, "policies", "create", "-f", str(file), "--max", "2")
    assert json.loads(run(server, "policies", "show", "cli-file", "--json").stdout)["max"] == 2

    bad = run(server, "policies", "create", "cli-bad", "--service", "nope", "--min", "1",
              "--max", "2", "--cpu", "50", ok=False)  # fmt: skip
    assert bad.returncode == 1 and "service" in bad.stderr
    hosts = run(server, "policies", "create", "cli-hosts", "--hosts", "group=batch", "--min",
                "1", "--max", "3", "--slots", "75", ok=False)  # fmt: skip
    assert hosts.returncode == 1 and "host scaling is not configured" in hosts.stderr
    run(server, "policies", "delete", "cli-cpu")
    run(server, "policies", "delete", "cli-file")
    assert "cli-cpu" not in run(server, "policies", "list").stdout


def declare(path: Path, **sections: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump(sections))
    return path


def test_apply_policies_is_idempotent(server: ServerProcess, tmp_path: Path) -> None:
    queue: dict[str, Any] = policy(
        "applied",
        "web",
        connections(target=5),
        min=1,
        max=2,
        behavior={"down": {"stabilization": "30s"}},
        tolerance=0.2,
    )
    receiver = {
        "name": "applied-up",
        "driver": "scaleService",
        "config": {"service": "web", "action": "up", "max": 3},
    }
    file = declare(tmp_path / "scaling.yaml", receivers=[receiver], policies=[queue])
    first = run(server, "apply", "-f", str(file)).stdout.splitlines()
    assert first[0].startswith("receiver applied-up: created")
    assert first[1] == "policy applied: created"
    again = run(server, "apply", "-f", str(file)).stdout.splitlines()
    assert again == ["receiver applied-up: unchanged", "policy applied: unchanged"]

    queue["max"] = 4
    queue["metrics"] = [connections(target=8)]
    declare(file, policies=[queue])
    planned = run(server, "apply", "-f", str(file), "--dry-run").stdout.splitlines()
    assert planned == ["policy applied: would be updated (max, metrics)"]
    assert json.loads(run(server, "policies", "show", "applied", "--json").stdout)["max"] == 2
    done = run(server, "apply", "-f", str(file)).stdout.splitlines()
    assert done == ["policy applied: updated (max, metrics)"]
    shown = json.loads(run(server, "policies", "show", "applied", "--json").stdout)
    assert shown["max"] == 4 and shown["metrics"][0]["target"] == 8
    assert run(server, "apply", "-f", str(file)).stdout.splitlines() == [
        "policy applied: unchanged"
    ]

    queue["min"] = 9  # above max: refused, naming the policy and the field
    declare(file, policies=[queue])
    refused = run(server, "apply", "-f", str(file), ok=False)
    assert refused.returncode == 1 and "policies[0]" in refused.stderr
    shown = json.loads(run(server, "policies", "show", "applied", "--json").stdout)
    assert shown["min"] == 1


def test_show_says_why_the_policy_last_scaled(server: ServerProcess) -> None:
    run(
        server, "policies", "create", "cli-why", "--service", "web", "--min", "2", "--max",
        "2", "--interval", "1s", "--cpu", "60",
    )  # fmt: skip

    def shown() -> str:
        text = run(server, "policies", "show", "cli-why").stdout
        return text if "last scaling: none" not in text else ""

    text = wait_until(shown, timeout=60, what="the policy's first scaling")
    assert re.search(r"^last scaling: \S+ 1 -> 2 \(execution \d+\)$", text, re.MULTILINE), text
    assert "limited by: min 2" in text, text
    run(server, "policies", "delete", "cli-why")
