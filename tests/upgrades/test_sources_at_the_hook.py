"""A push from every source, at a real hook, upgrades the real service it names.

One server runs one service per source, each on its own repository; one receiver
selects them all. Each push must upgrade exactly the service running the pushed
repository (the others are skipped with the reason), and its replica must then answer
with the new version.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from scalehook.domain.images import parse_image
from scalehook.testing import ServerProcess
from tests.upgrades import bodies
from tests.upgrades.helpers import (
    finished,
    hook,
    release_service,
    settled_versions,
    upgrade_receiver,
)

CASES = {
    "dockerhub": ("hub", "acme/hub"),
    "harbor": ("harbor", "harbor.example.com/proj/app"),
    "harbor-cloudevents": ("harbor-ce", "harbor.example.com/proj/ce"),
    "quay": ("quay", "quay.io/acme/app"),
    "github-package": ("gh-pkg", "ghcr.io/acme/pkg"),
    "github-registry_package": ("gh-reg", "ghcr.io/acme/reg"),
    "distribution": ("dist", "registry.example.com:5000/team/app"),
    "gitlab": ("gitlab", "registry.gitlab.example.com/group/app"),
    "generic": ("generic", "localhost:5000/app"),
}
SOURCE_NAMES = {
    "github-package": "github",
    "github-registry_package": "github",
    "harbor-cloudevents": "harbor",
    "gitlab": "distribution",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    services = {
        name: release_service(f"{repository}:1", replicas=1) for name, repository in CASES.values()
    }
    process = ServerProcess(tmp_path_factory.mktemp("sources"), {"services": services})
    process.start()
    try:
        for name in services:
            process.wait_for(name, ready=1)
        yield process
    finally:
        process.close()


@pytest.fixture(scope="module")
def receiver(server: ServerProcess) -> dict[str, Any]:
    return upgrade_receiver(server, "registry")


@pytest.mark.parametrize("source", list(CASES))
def test_a_push_from_each_source_upgrades_the_service_running_that_repository(
    server: ServerProcess, receiver: dict[str, Any], source: str
) -> None:
    service, repository = CASES[source]
    body, headers = bodies.push(source, repository, "2")
    response = hook(receiver["url"], body, headers)
    assert response.status_code == 202, response.text
    started = response.json()
    assert (started["target"], started["result"], started["status"]) == (
        f"local/{service}",
        "upgrading",
        "running",
    )
    assert started["details"]["source"] == SOURCE_NAMES.get(source, source)
    skipped = {s["service"]: s["reason"] for s in started["details"]["skipped"]}
    assert set(skipped) == {f"local/{name}" for name, _ in CASES.values()} - {f"local/{service}"}
    assert all(reason.startswith("runs ") for reason in skipped.values())

    done = finished(server, started["id"])
    assert done["result"] == "upgraded", done["message"]
    assert settled_versions(server, service, 1) == ["2"]
    expected = parse_image(f"{repository}:2").familiar()
    assert server.service(service)["image"].split("@")[0] == expected
    assert done["details"]["to"].split("@")[0] == expected
