"""What the hook answers to bodies it refuses, to pushes that change nothing, and to
calls that do not prove the receiver's secret. Each is recorded; none touches a
service."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from scalehook.domain.signatures import sign
from scalehook.testing import ServerProcess
from tests.upgrades import bodies
from tests.upgrades.helpers import execution, finished, hook, release_service, upgrade_receiver

SECRET = "webhook-secret-1f4e"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    services = {
        "web": release_service("acme/app:1", replicas=1),
        "signed": release_service("ghcr.io/acme/signed:1", replicas=1, labels={"app": "signed"}),
    }
    process = ServerProcess(tmp_path_factory.mktemp("answers"), {"services": services})
    process.start()
    try:
        process.wait_for("web", ready=1)
        process.wait_for("signed", ready=1)
        yield process
    finally:
        process.close()


@pytest.fixture(scope="module")
def receivers(server: ServerProcess) -> dict[str, dict[str, Any]]:
    return {
        "semver": upgrade_receiver(server, "semver"),
        "glob": upgrade_receiver(server, "glob", tag_policy="glob:release-*"),
        "same-major": upgrade_receiver(server, "same-major", tag_policy="semver:same-major"),
        "quay-only": upgrade_receiver(server, "quay-only", source="quay"),
        "nobody": upgrade_receiver(server, "nobody", selector={"app": "nothing"}),
        "signed": upgrade_receiver(
            server, "signed", selector={"app": "signed"}, secret=SECRET, tag_policy="semver"
        ),
    }


def assert_untouched(server: ServerProcess) -> None:
    assert server.service("web")["image"] == "acme/app:1"
    assert all(r["image"] == "acme/app:1" for r in server.service("web")["replicas"])


@pytest.mark.parametrize(
    ("content", "headers", "message"),
    [
        (b"{not json", {}, "the body is not valid JSON"),
        (b"", {}, "the body is empty"),
        (b"\xff\xfe\x00", {}, "the body is not valid JSON"),
        (b"[" * 50_000 + b"]" * 50_000, {}, "nested too deeply"),
        (b"[1, 2]", {}, "not a push notification scalehook knows"),
        (b'{"hello": "world"}', {}, "not a push notification scalehook knows"),
        (
            json.dumps({"push_data": {}, "repository": {"repo_name": "acme/app"}}).encode(),
            {},
            "push_data.tag: is required",
        ),
        (
            json.dumps({"type": "PUSH_ARTIFACT", "event_data": {"resources": {}}}).encode(),
            {},
            "event_data.resources: must be a JSON array",
        ),
        (
            json.dumps({"events": [{"action": "push", "target": {"tag": "1"}}]}).encode(),
            {"Content-Type": bodies.DISTRIBUTION_MEDIA_TYPE},
            "events[0].request: is required",
        ),
        (b'{"image": "Acme/App:2"}', {}, "repository names are lower-case"),
        (
            json.dumps(bodies.github("ghcr.io/acme/app", "2")).encode(),
            {"X-GitHub-Event": "registry_package", "Content-Type": "application/json"},
            None,  # no 400: a valid body for a receiver without a secret (checked below)
        ),
    ],
)
def test_malformed_bodies_get_400_with_a_message(
    server: ServerProcess,
    receivers: dict[str, dict[str, Any]],
    content: bytes,
    headers: dict[str, str],
    message: str | None,
) -> None:
    response = hook(receivers["semver"]["url"], content, headers)
    if message is None:
        assert response.status_code == 200, response.text  # runs acme/app, not ghcr: noop
        return
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["error"] == "invalid_payload"
    assert message in error["message"]
    assert "Traceback" not in response.text
    recorded = execution(server, error["execution_id"])
    assert (recorded["result"], recorded["status"]) == ("rejected", "done")
    assert recorded["message"] == error["message"]
    assert_untouched(server)


def test_a_source_fixed_in_the_receiver_reads_every_body_as_it(
    server: ServerProcess, receivers: dict[str, dict[str, Any]]
) -> None:
    response = hook(receivers["quay-only"]["url"], bodies.dockerhub("acme/app", "2"))
    assert response.status_code == 400
    assert response.json()["message"] == "docker_url: is required"
    response = hook(receivers["quay-only"]["url"], {"docker_url": "quay.io/acme/app"})
    assert response.status_code == 400  # read without being recognised: still a clear 400
    assert response.json()["message"] == "updated_tags: must be an array of tag names"
    response = hook(receivers["quay-only"]["url"], bodies.quay("quay.io/acme/app", ["2"]))
    assert response.status_code == 200
    assert response.json()["result"] == "noop"
    assert_untouched(server)


@pytest.mark.parametrize(
    ("receiver", "body", "headers", "reason"),
    [
        (
            "semver",
            bodies.dockerhub("acme/other", "2"),
            {},
            "local/web runs acme/app:1, not acme/other",
        ),
        (
            "semver",
            bodies.quay("quay.io/acme/app", ["2"]),
            {},
            "runs acme/app:1, not quay.io/acme/app",
        ),
        ("semver", bodies.dockerhub("acme/app", "0.9"), {}, "'0.9' is not newer than '1'"),
        ("semver", bodies.dockerhub("acme/app", "1"), {}, "already runs '1'"),
        ("semver", bodies.dockerhub("acme/app", "latest"), {}, "'latest' is not a version"),
        ("semver", bodies.dockerhub("acme/app", "2.0.0-rc1"), {}, "is a pre-release"),
        (
            "glob",
            bodies.dockerhub("acme/app", "hotfix-1"),
            {},
            "'hotfix-1' does not match 'release-*'",
        ),
        ("same-major", bodies.dockerhub("acme/app", "2"), {}, "'2' leaves major version 1"),
        (
            "nobody",
            bodies.dockerhub("acme/app", "2"),
            {},
            "no service matches the selector app=nothing",
        ),
        (
            "semver",
            bodies.fixture("ghcr-registry-package-published-untagged"),
            {"X-GitHub-Event": "registry_package"},
            "untagged push of ghcr.io/codertocat/hello-world",
        ),
        (
            "semver",
            {"zen": "Design for failure.", "hook_id": 7},
            {"X-GitHub-Event": "ping"},
            "no image push",
        ),
        (
            "semver",
            {**bodies.harbor("harbor.example.com/p/app", "2"), "type": "PULL_ARTIFACT"},
            {},
            "no image push",
        ),
    ],
)
def test_pushes_that_upgrade_nothing_are_recorded_noops_with_the_reason(
    server: ServerProcess,
    receivers: dict[str, dict[str, Any]],
    receiver: str,
    body: dict[str, Any],
    headers: dict[str, str],
    reason: str,
) -> None:
    response = hook(receivers[receiver]["url"], body, headers)
    assert response.status_code == 200, response.text
    noop = response.json()
    assert (noop["result"], noop["status"]) == ("noop", "done")
    assert reason in noop["message"]
    assert execution(server, noop["id"])["message"] == noop["message"]
    assert_untouched(server)


def test_calls_that_do_not_prove_the_secret_get_401(
    server: ServerProcess, receivers: dict[str, dict[str, Any]]
) -> None:
    url = receivers["signed"]["url"]
    body = bodies.github("ghcr.io/acme/signed", "2")
    content = json.dumps(body).encode()
    github = {"X-GitHub-Event": "registry_package"}
    refused = [
        hook(url, content, github),  # unsigned
        hook(url, content, {**github, "X-Hub-Signature-256": "sha256=" + "0" * 64}),
        hook(url, content, github, secret="another-secret"),
        hook(url, content + b" ", {**github, "X-Hub-Signature-256": sign(SECRET, content)}),
        hook(url, bodies.dockerhub("acme/signed", "2")),  # Docker Hub cannot sign
        hook(url, bodies.generic("ghcr.io/acme/signed:2"), {"Authorization": "Bearer nope"}),
    ]
    for response in refused:
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "unauthorized"
        assert execution(server, response.json()["execution_id"])["result"] == "rejected"
    assert server.service("signed")["image"] == "ghcr.io/acme/signed:1"

    accepted = hook(url, content, github, secret=SECRET)
    assert accepted.status_code == 202, accepted.text
    assert finished(server, accepted.json()["id"])["result"] == "upgraded"
    bearer = hook(
        url, bodies.generic("ghcr.io/acme/signed:2.1"), {"Authorization": f"Bearer {SECRET}"}
    )
    assert bearer.status_code == 202, bearer.text
    assert finished(server, bearer.json()["id"])["result"] == "upgraded"
    assert server.service("signed")["image"] == "ghcr.io/acme/signed:2.1"


def test_the_secret_is_never_shown_or_logged(
    server: ServerProcess, receivers: dict[str, dict[str, Any]]
) -> None:
    created = receivers["signed"]
    assert "secret" not in created["config"] and created["has_secret"] is True
    shown = server.client.get(f"/v1/receivers/{created['id']}").json()
    assert "secret" not in shown["config"] and shown["has_secret"] is True
    assert receivers["semver"]["has_secret"] is False
    renamed = server.client.patch(
        f"/v1/receivers/{created['id']}", json={"config": {"batch_size": 2}}
    )
    assert renamed.status_code == 200 and renamed.json()["has_secret"] is True
    everything = [
        server.client.get("/v1/receivers").text,
        server.client.get("/v1/executions", params={"limit": 1000}).text,
        server.log(),
    ]
    assert all(SECRET not in text for text in everything)
    # the secret still works after the PATCH that did not mention it
    response = hook(
        created["url"], bodies.generic("ghcr.io/acme/signed:0.1"), {"Authorization": SECRET}
    )
    assert response.status_code == 200 and response.json()["result"] == "noop"


@pytest.mark.parametrize(
    ("config", "field", "message"),
    [
        ({"tag_policy": "semver:patch"}, "config.tag_policy", "semver:same-major"),
        ({"tag_policy": "regexp:("}, "config.tag_policy", "not a regular expression"),
        ({"source": "gitea"}, "config.source", "not a known source"),
        ({"secret": "short"}, "config.secret", "at least 8"),
        ({"batch_size": 0}, "config.batch_size", "greater than or equal to 1"),
        ({"health_timeout": "0s"}, "config.health_timeout", "greater than 0"),
        ({"batch_interval": "soon"}, "config.batch_interval", "not a duration"),
        ({"on_failure": "explode"}, "config.on_failure", "'rollback' or 'pause'"),
        ({"selector": "app=shop"}, "config.selector", "dictionary"),
        ({"tag": "2"}, "config.tag", "Extra inputs"),
    ],
)
def test_receiver_config_is_checked_at_create(
    server: ServerProcess, config: dict[str, Any], field: str, message: str
) -> None:
    response = server.client.post(
        "/v1/receivers", json={"name": "bad", "driver": "serviceUpgrade", "config": config}
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert message in response.json()["message"]


def test_a_dry_run_receiver_records_the_upgrade_it_would_start(server: ServerProcess) -> None:
    created = upgrade_receiver(server, "rehearsal")
    server.client.patch(f"/v1/receivers/{created['id']}", json={"dry_run": True})
    response = hook(created["url"], bodies.dockerhub("acme/app", "7"))
    assert response.status_code == 200
    recorded = response.json()
    assert recorded["result"] == "dry_run"
    assert recorded["details"]["would"] == [
        {"service": "local/web", "from": "acme/app:1", "to": "acme/app:7"}
    ]
    assert "nothing changed" in recorded["message"]
    assert_untouched(server)
