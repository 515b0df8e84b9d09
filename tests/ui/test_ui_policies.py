"""Policies and health checks in a real browser, against a real scalehook with a real
local replica: a policy created through the form, listed, simulated (the page shows the
desired count and the reasons the API gave) and paused; a health check set through the
service page's form in Cattle's words and read back from the API; the service page's
timeline annotating a scale made through the API."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from scalehook.testing import ServerProcess
from tests.conftest import web_service
from tests.ui.conftest import PHONE, Shots, no_page_errors, sign_in

# Set to a directory (e.g. docs/screenshots) to keep this run's screenshots there too.
KEEP_SHOTS = os.environ.get("SCALEHOOK_UI_SHOTS")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path_factory.mktemp("ui-policies"), {"services": {"web": web_service()}}
    )
    server.start()
    yield server
    server.close()


@pytest.fixture
def shots(tmp_path: Path) -> Iterator[Shots]:
    taken = Shots(tmp_path / "screenshots")
    yield taken
    if KEEP_SHOTS:
        Path(KEEP_SHOTS).mkdir(parents=True, exist_ok=True)
        for path in taken.taken:
            shutil.copy(path, Path(KEEP_SHOTS) / path.name)


def test_a_policy_created_listed_simulated_and_paused(
    page: Page, server: ServerProcess, shots: Shots
) -> None:
    sign_in(page, server, "#/policies")
    expect(page.get_by_role("heading", name="Policies", exact=True)).to_be_visible()
    form = page.locator("form.create")

    # a policy the API refuses: its message, at the field it names
    form.get_by_label("Name").fill("web-cpu")
    form.get_by_label("Min replicas").fill("5")
    form.get_by_label("Max replicas").fill("2")
    refused = server.client.post(
        "/v1/policies",
        json={
            "name": "web-cpu",
            "service": "web",
            "min": 5,
            "max": 2,
            "interval": "15s",
            "metrics": [{"name": "cpu", "source": "engine", "metric": "cpu", "target": 60}],
        },
    )
    assert refused.status_code == 422, refused.text
    form.get_by_role("button", name="Create policy").click()
    error = form.locator(".field-error:visible, .form-error:visible")
    expect(error).to_have_text(refused.json()["message"])
    if refused.json()["field"] in ("min", "max"):
        label = "Min replicas" if refused.json()["field"] == "min" else "Max replicas"
        expect(form.get_by_label(label)).to_have_attribute("aria-invalid", "true")

    # a dry-run policy (it must not move web while the other tests watch its timeline)
    form.get_by_label("Min replicas").fill("1")
    form.get_by_label("Max replicas").fill("4")
    form.get_by_label("CPU target (%)").fill("50")
    form.get_by_label("Dry run").check()
    form.get_by_role("button", name="Create policy").click()
    line = page.locator('tr[data-policy="web-cpu"]')
    expect(line.locator("td[data-label='Service']")).to_have_text("web")
    expect(line.locator("td[data-label='Min / max']")).to_have_text("1 \u2013 4")
    expect(line.locator("td[data-label='Metrics']")).to_contain_text("cpu:")
    expect(line.locator("td[data-label='Metrics']")).to_contain_text("target 50")
    expect(line.locator("td[data-label='State']")).to_have_text("dry run")
    stored = server.client.get("/v1/policies/web-cpu").json()
    assert (stored["min"], stored["max"], stored["dry_run"]) == (1, 4, True)

    # simulate: the page shows what the API decides from the same samples
    body = {key: stored[key] for key in ("name", "service", "min", "max", "interval", "metrics")}
    samples = {"cpu": [{"value": 90}, {"value": 80}]}
    answer = server.client.post(
        "/v1/policies/simulate", json={"policy": body, "current": 2, "samples": samples}
    ).json()
    assert answer["desired"] > 2, answer
    sim = page.locator("form.simulate")
    sim.get_by_label("Policy").select_option(label="web-cpu")
    sim.get_by_label("Current replicas").fill("2")
    sim.get_by_label("Samples").fill("cpu=90,80")
    sim.get_by_role("button", name="Simulate").click()
    expect(sim.locator(".desired")).to_have_text(f"Desired: {answer['desired']}")
    reasons = sim.get_by_role("list", name="Reasons").locator("li")
    expect(reasons).to_have_text(answer["reasons"])
    shots.take(page, "policies")

    # a sample that is not a number is refused before sending, at its field
    sim.get_by_label("Samples").fill("cpu=lots")
    sim.get_by_role("button", name="Simulate").click()
    expect(sim.locator(".field-error:visible")).to_contain_text("'lots' is not a number")

    # pause it; back live; the API agrees
    line.get_by_role("button", name="Pause").click()
    expect(line.locator("td[data-label='State']")).to_have_text("paused")
    assert server.client.get("/v1/policies/web-cpu").json()["paused"] is True

    # edit its JSON: max 3
    line.get_by_role("button", name="Edit").click()
    editor = line.get_by_label("Policy web-cpu as JSON")
    edited = editor.input_value().replace('"max": 4', '"max": 3')
    editor.fill(edited)
    line.get_by_role("button", name="Save policy").click()
    expect(line.locator("td[data-label='Min / max']")).to_have_text("1 \u2013 3")
    assert server.client.get("/v1/policies/web-cpu").json()["max"] == 3

    # the service page lists it with its metric against its target
    page.goto(f"{server.url}/ui/#/services/local%2Fweb")
    mine = page.get_by_role("list", name="Policies of web").locator('li[data-policy="web-cpu"]')
    expect(mine).to_contain_text("paused")
    expect(mine).to_contain_text("target 50")

    # the services list shows its min and max, and that web has no health check
    page.goto(f"{server.url}/ui/#/services")
    row = page.locator('tr[data-service="local/web"]')
    expect(row.locator("td[data-label='Policy min/max']")).to_have_text("1\u20133 (web-cpu)")
    expect(row.locator("td[data-label='Health']")).to_have_text("\u2013")
    no_page_errors(page)


def test_a_health_check_set_through_the_service_page(
    page: Page, server: ServerProcess, shots: Shots
) -> None:
    sign_in(page, server, "#/services/local%2Fweb")
    form = page.get_by_role("form", name="Health check of web")
    expect(form).to_contain_text("No health check")
    form.get_by_label("Probe").select_option("http")
    form.get_by_label("HTTP request").fill("GET / HTTP/1.0")
    form.get_by_label("Check Interval").fill("1s")
    form.get_by_label("Timeout").fill("500ms")
    form.get_by_label("Healthy After N successes").fill("1")
    form.get_by_label("Unhealthy After N failures").fill("2")
    form.get_by_label("Re-create, only when at least N are healthy").check()
    form.get_by_label("N: healthy replicas needed").fill("1")
    form.get_by_role("button", name="Save health check").click()
    expect(page.get_by_role("status").filter(has_text="Health check saved.")).to_be_visible()
    try:
        got = server.client.get("/v1/services/web/healthcheck")
        assert got.status_code == 200, got.text
        check = got.json()["check"]
        assert check["http"] == "GET / HTTP/1.0"
        assert (check["interval"], check["timeout"]) == ("1s", "500ms")
        assert (check["healthy_threshold"], check["unhealthy_threshold"]) == (1, 2)
        assert (check["strategy"], check["quorum"]) == ("quorum", 1)
        # the replica's health appears in its row, and in the services list
        expect(page.locator("tr[data-replica] td[data-label='Health']")).to_have_text(
            "healthy", timeout=30_000
        )
        shots.take(page, "service-health")
        page.goto(f"{server.url}/ui/#/services")
        listed = page.locator('tr[data-service="local/web"] td[data-label="Health"]')
        expect(listed).to_have_text("1/1 healthy", timeout=30_000)
        page.goto(f"{server.url}/ui/#/services/local%2Fweb")

        # what the form does not show is kept when it saves again
        current = server.client.get("/v1/services/web/healthcheck").json()["check"]
        changed = {**current, "max_recreations": 7}
        server.client.put("/v1/services/web/healthcheck", json=changed).raise_for_status()
        page.reload()
        form = page.get_by_role("form", name="Health check of web")
        form.get_by_label("Unhealthy After N failures").fill("3")
        form.get_by_role("button", name="Save health check").click()
        expect(page.get_by_role("status").filter(has_text="Health check saved.")).to_be_visible()
        again = server.client.get("/v1/services/web/healthcheck").json()["check"]
        assert (again["unhealthy_threshold"], again["max_recreations"]) == (3, 7)

        # a value the API refuses: its message, at its field
        form = page.get_by_role("form", name="Health check of web")
        form.get_by_label("Timeout").fill("5s")  # above the interval
        form.get_by_role("button", name="Save health check").click()
        expect(form.locator(".field-error:visible, .form-error:visible")).not_to_have_count(0)
        kept = server.client.get("/v1/services/web/healthcheck").json()["check"]
        assert kept["timeout"] == "500ms"

        # removed through the form (confirmed)
        form.get_by_role("button", name="Remove health check").click()
        page.get_by_role("dialog").get_by_role("button", name="Remove").click()
        expect(page.get_by_role("status").filter(has_text="Health check removed.")).to_be_visible()
        assert server.client.get("/v1/services/web/healthcheck").status_code == 404
    finally:
        server.client.delete("/v1/services/web/healthcheck")
    no_page_errors(page)


def test_the_timeline_annotates_a_scale_made_through_the_api(
    page: Page, server: ServerProcess
) -> None:
    before = server.client.get("/v1/services/web").json()["desired"]
    sign_in(page, server, "#/services/local%2Fweb")
    server.client.post("/v1/services/web/scale", json={"replicas": before + 1}).raise_for_status()
    changes = page.get_by_role("list", name="Changes of the replica count, newest first")
    newest = changes.locator("li").first
    expect(newest).to_contain_text(f"{before} → {before + 1}")
    expect(newest.locator(".who")).to_contain_text("by hand")
    server.client.post("/v1/services/web/scale", json={"replicas": before}).raise_for_status()
    expect(newest).to_contain_text(f"{before + 1} → {before}")
    no_page_errors(page)


def test_the_policies_page_at_phone_width(
    browser: Browser, server: ServerProcess, shots: Shots
) -> None:
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        sign_in(page, server, "#/policies")
        expect(page.get_by_role("button", name="Create policy")).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], width
        shots.take(page, "phone-policies")
    finally:
        context.close()
