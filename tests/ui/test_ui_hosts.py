"""The hosts page in a real browser, against a scalehook whose hosts: section names this
machine's Swarm manager (read only: its one node is a manager, never removed). Adding
and removing hosts for real needs the netns lab (tests/hosts); here the page is shown
listing real nodes, and an add the API refuses shows the API's message at its field."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from scalehook.testing import ServerProcess
from tests.ui.conftest import Shots, no_page_errors, sign_in


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    docker_host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    server = ServerProcess(
        tmp_path_factory.mktemp("ui-hosts"),
        {"services": {}, "hosts": {"docker_host": docker_host}},
    )
    server.start()
    yield server
    server.close()


def test_hosts_are_listed_with_their_load(page: Page, server: ServerProcess, shots: Shots) -> None:
    nodes = server.client.get("/v1/hosts")
    assert nodes.status_code == 200, nodes.text
    manager = next(n for n in nodes.json() if n["role"] == "manager")
    sign_in(page, server, "#/hosts")
    line = page.locator(f'tr[data-host="{manager["name"]}"]')
    expect(line.locator("td[data-label='State']")).to_have_text(manager["state"])
    expect(line.locator("td[data-label='Role']")).to_have_text("manager")
    expect(line.locator("td[data-label='Availability']")).to_have_text(manager["availability"])
    expect(line.locator("td[data-label='CPU reserved'] meter")).to_have_count(1)
    remove = line.get_by_role("button", name="Remove")
    expect(remove).to_be_disabled()
    expect(line).to_contain_text(f"Never removed: {manager['protected_because']}")
    shots.take(page, "hosts-list")

    form = page.locator("form.create")
    form.get_by_label("Provider").fill("netns")
    form.get_by_label("Labels").fill("group=ui-test")
    form.get_by_role("button", name="Add host").click()
    error = form.locator(".field-error:visible")
    expect(error).to_contain_text("provider 'netns' is not configured")
    expect(form.get_by_label("Provider")).to_have_attribute("aria-invalid", "true")
    no_page_errors(page)
