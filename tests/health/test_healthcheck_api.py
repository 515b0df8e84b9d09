"""Setting checks: the API's answers to bad input, where a check comes from (the file's,
replaced by the API's while it exists), the CLI and ``scalehook apply``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from scalehook.testing import ServerProcess
from tests.cli.test_cli import run
from tests.health.helpers import check, health_service

FILE_CHECK = {"http": "GET /healthz HTTP/1.0", "interval": "1s", "strategy": "none"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    config = {
        "services": {
            "web": health_service(health=FILE_CHECK),
            "api": health_service(replicas=1),
        }
    }
    started = ServerProcess(tmp_path_factory.mktemp("healthchecks"), config)
    started.start()
    yield started
    started.close()


@pytest.mark.parametrize(
    ("service", "body", "status", "field", "words"),
    [
        ("api", {"strategy": "quorum", "quorum": 2}, 422, "quorum", "api wants 1"),
        ("api", {"healthy_threshold": 0}, 422, "healthy_threshold", "greater than or equal to 1"),
        ("api", {"unhealthy_threshold": 0}, 422, "unhealthy_threshold", "greater than or equal"),
        ("api", {"interval": "1s", "timeout": "5s"}, 422, "timeout", "longer than interval"),
        ("api", {"http": "GET /healthz", "tcp": True}, 422, "tcp", "not both"),
        ("api", {"docker": True}, 422, "docker", "local processes"),
        ("api", {"strategy": "sometimes"}, 422, "strategy", "'none', 'recreate' or 'quorum'"),
        ("api", {"interval": "-2s"}, 422, "interval", "cannot be negative"),
        ("nothere", check(), 404, "service", "no service named 'nothere'"),
    ],
)
def test_bad_checks_are_refused_naming_the_field(
    server: ServerProcess,
    service: str,
    body: dict[str, Any],
    status: int,
    field: str,
    words: str,
) -> None:
    answer = server.client.put(f"/v1/services/{service}/healthcheck", json=body)
    assert answer.status_code == status, answer.text
    error = answer.json()
    assert error["field"] == field
    assert words in error["message"]
    assert server.client.get("/v1/services/api/healthcheck").status_code == 404  # nothing set


def test_a_body_that_is_not_json_is_400(server: ServerProcess) -> None:
    answer = server.client.put(
        "/v1/services/api/healthcheck",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_json"


def test_the_files_check_is_replaced_by_the_apis_until_that_is_deleted(
    server: ServerProcess,
) -> None:
    declared = server.client.get("/v1/services/web/healthcheck").json()
    assert declared["source"] == "file" and declared["check"]["interval"] == "1s"
    assert declared["declared"] is None
    put = server.client.put("/v1/services/web/healthcheck", json=check(strategy="recreate"))
    assert put.status_code == 200
    replaced = put.json()
    assert replaced["source"] == "api" and replaced["check"]["strategy"] == "recreate"
    assert replaced["declared"]["strategy"] == "none"
    listed = {c["service"]: c["source"] for c in server.client.get("/v1/healthchecks").json()}
    assert listed == {"local/web": "api"}
    assert server.client.delete("/v1/services/web/healthcheck").status_code == 204
    back = server.client.get("/v1/services/local/web/healthcheck").json()
    assert back["source"] == "file" and back["check"]["strategy"] == "none"
    refused = server.client.delete("/v1/services/web/healthcheck")
    assert refused.status_code == 409
    assert "declared in scalehook.yaml" in refused.json()["message"]
    assert server.client.delete("/v1/services/api/healthcheck").status_code == 404


def test_the_cli_sets_shows_lists_and_deletes(server: ServerProcess) -> None:
    shown = json.loads(
        run(
            server,
            "healthchecks",
            "set",
            "api",
            "--http",
            "GET /healthz HTTP/1.0",
            "--interval",
            "2s",
            "--unhealthy-threshold",
            "4",
            "--strategy",
            "quorum",
            "--quorum",
            "1",
            "--json",
        ).stdout
    )
    assert shown["service"] == "local/api"
    assert shown["check"]["unhealthy_threshold"] == 4 and shown["check"]["interval"] == "2s"
    text = run(server, "healthchecks", "show", "api").stdout
    assert "service:" in text and "local/api" in text and "source:" in text
    listed = run(server, "healthchecks", "list").stdout.splitlines()
    assert listed[0].split()[:3] == ["SERVICE", "SOURCE", "PROBE"]
    assert any(line.startswith("local/api") and " api " in line for line in listed)
    assert any(line.startswith("local/web") and " file " in line for line in listed)
    bad = run(server, "healthchecks", "set", "api", "--timeout", "3s", ok=False)
    assert bad.returncode == 1 and "timeout" in bad.stderr
    assert run(server, "healthchecks", "delete", "api").stdout.strip() == (
        "health check of api deleted"
    )
    assert run(server, "healthchecks", "show", "api", ok=False).returncode == 1


def test_apply_sets_checks_once_and_only_what_differs(
    server: ServerProcess, tmp_path: Path
) -> None:
    file = tmp_path / "checks.yaml"
    wanted = {"http": "GET /healthz HTTP/1.0", "interval": "2s", "timeout": "1s"}
    file.write_text(yaml.safe_dump({"healthchecks": {"api": wanted}}))
    assert run(server, "apply", "-f", str(file), "--dry-run").stdout.splitlines() == [
        "health check of api: would be set"
    ]
    assert run(server, "apply", "-f", str(file)).stdout.splitlines() == ["health check of api: set"]
    # the same again, written another way (2000ms is 2s): nothing to do
    file.write_text(yaml.safe_dump({"healthchecks": {"api": {**wanted, "interval": "2000ms"}}}))
    assert run(server, "apply", "-f", str(file)).stdout.splitlines() == [
        "health check of api: unchanged"
    ]
    file.write_text(yaml.safe_dump({"healthchecks": {"api": {**wanted, "interval": "3s"}}}))
    assert run(server, "apply", "-f", str(file)).stdout.splitlines() == [
        "health check of api: updated (interval)"
    ]
    assert server.client.get("/v1/services/api/healthcheck").json()["check"]["interval"] == "3s"
    file.write_text(yaml.safe_dump({"healthchecks": {"api": {"interval": "1s", "timeout": "2s"}}}))
    bad = run(server, "apply", "-f", str(file), ok=False)
    assert bad.returncode == 1 and "healthchecks.api.timeout" in bad.stderr
    file.write_text(yaml.safe_dump({"healthchecks": {"nothere": wanted}}))
    missing = run(server, "apply", "-f", str(file), ok=False)
    assert "healthchecks.nothere" in missing.stderr and "no service named" in missing.stderr
    server.client.delete("/v1/services/api/healthcheck")


def test_a_check_set_through_the_api_survives_a_restart(make_server: Any, tmp_path: Path) -> None:
    first = make_server({"services": {"api": health_service(replicas=1)}}, name="one")
    assert first.client.put("/v1/services/api/healthcheck", json=check()).status_code == 200
    first.stop()
    again = ServerProcess(first.workdir, first.config, token=first.token, port=first.port)
    again.start()
    try:
        kept = again.client.get("/v1/services/api/healthcheck").json()
        assert kept["source"] == "api" and kept["check"]["interval"] == "300ms"
    finally:
        again.close()


def test_the_file_refuses_a_check_local_services_cannot_have(make_server: Any) -> None:
    with pytest.raises(RuntimeError, match=r"services\.web\.health: .*docker"):
        make_server({"services": {"web": health_service(health={"docker": True})}})
    with pytest.raises(RuntimeError, match=r"services\.web\.health: .*quorum"):
        make_server(
            {"services": {"web": health_service(health={"strategy": "quorum", "quorum": 3})}},
            name="two",
        )
