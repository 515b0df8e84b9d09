"""The web UI in a real browser against one real scalehook with real local replicas:
sign in, scale with the buttons, a service's timeline, a receiver's life (create, copy
its URL, trigger it from outside and see the execution arrive live, pause, rotate,
delete), a rollout's progress, CSRF, escaping, the hosts page, a phone-width screen,
and sign out."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from scalehook.domain.sessions import COOKIE
from scalehook.testing import ServerProcess
from tests.conftest import web_service
from tests.ui.conftest import PHONE, Shots, no_page_errors, sign_in
from tests.upgrades.helpers import finished, hook, release_service

# Set to a directory (e.g. docs/screenshots) to keep this run's screenshots there too.
KEEP_SHOTS = os.environ.get("SCALEHOOK_UI_SHOTS")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    services = {
        "web": web_service(),
        # every replica of shop is ready 1.5 s after it starts: a rollout takes a while
        "shop": release_service(replicas=2, env={"READY_DELAY": "1.5"}),
    }
    server = ServerProcess(tmp_path_factory.mktemp("ui"), {"services": services})
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


def row(page: Page, service: str) -> Locator:
    return page.locator(f'tr[data-service="local/{service}"]')


def count(page: Page, service: str, key: str) -> Locator:
    return row(page, service).locator(f'td[data-key="{key}"]')


def test_sign_in_refuses_a_wrong_token_and_takes_the_right_one(
    page: Page, server: ServerProcess, shots: Shots
) -> None:
    page.goto(server.url + "/")
    assert page.url == f"{server.url}/ui/"
    token = page.get_by_label("Admin token")
    expect(token).to_be_focused()
    assert token.get_attribute("type") == "password"
    token.fill("certainly-not-the-admin-token")
    page.get_by_role("button", name="Sign in").click()
    error = page.locator(".field-error")
    expect(error).to_have_text("the admin token is not valid")
    expect(token).to_have_attribute("aria-invalid", "true")
    shots.take(page, "sign-in")

    token.fill(server.token)
    token.press("Enter")  # the form submits with Enter
    expect(page.get_by_role("heading", name="Services")).to_be_visible()
    # the token is nowhere in the browser: not in storage, not in a cookie
    stored = page.evaluate("JSON.stringify([localStorage, sessionStorage, document.cookie])")
    assert server.token not in stored
    cookies = page.context.cookies()
    assert [c["name"] for c in cookies] == [COOKIE]
    assert cookies[0]["httpOnly"] and cookies[0]["sameSite"] == "Strict"
    assert server.token not in cookies[0]["value"]
    no_page_errors(page)


def test_scale_up_down_and_set_with_the_buttons(
    page: Page, server: ServerProcess, shots: Shots
) -> None:
    sign_in(page, server)
    web = row(page, "web")
    expect(count(page, "web", "desired")).to_have_text("1")
    web.get_by_role("button", name="Scale up").click()
    expect(count(page, "web", "desired")).to_have_text("2")
    expect(count(page, "web", "ready")).to_have_text("2")
    assert server.service("web")["desired"] == 2

    web.get_by_role("button", name="Scale down").click()
    expect(count(page, "web", "desired")).to_have_text("1")
    expect(count(page, "web", "running")).to_have_text("1")

    replicas = web.get_by_label("Replicas")
    replicas.fill("3")
    web.get_by_role("button", name="Set").click()
    expect(count(page, "web", "desired")).to_have_text("3")
    expect(count(page, "web", "ready")).to_have_text("3")
    shots.take(page, "services")

    # an answer of the API is shown as it was sent, beside the field
    replicas.fill("20000")
    replicas.press("Enter")
    status = web.locator(".scale-status")
    expect(status).to_contain_text("replicas")
    expect(status).to_contain_text("10000")
    expect(replicas).to_have_attribute("aria-invalid", "true")

    replicas.fill("1")
    replicas.press("Enter")
    expect(count(page, "web", "desired")).to_have_text("1")
    expect(count(page, "web", "running")).to_have_text("1")
    no_page_errors(page)


def test_a_service_page_shows_replicas_and_the_scaling_timeline(
    page: Page, server: ServerProcess, shots: Shots
) -> None:
    sign_in(page, server, "#/services/local%2Fweb")
    expect(page.get_by_role("heading", name="web", exact=True)).to_be_visible()
    expect(page.locator("tr[data-replica]")).to_have_count(1)
    expect(page.locator("tr[data-replica] td[data-label='Address']")).to_contain_text("127.0.0.1:")
    changes = page.get_by_role("list", name="Changes of the replica count, newest first")
    # 1 → 2, 2 → 1, 1 → 3, 3 → 1, all by hand, newest first
    expect(changes.locator("li")).to_have_count(4)
    expect(changes.locator("li").first).to_contain_text("3 → 1")
    expect(changes.locator("li").first).to_contain_text("by hand")
    expect(changes.locator("li").last).to_contain_text("1 → 2")
    expect(page.locator("svg.timeline circle")).to_have_count(4)

    # scaling here moves the counts and draws one more step, without a reload
    page.evaluate("window.__same_page = true")
    page.get_by_role("button", name="Scale up").click()
    expect(page.locator(".counts")).to_contain_text("2 desired")
    expect(changes.locator("li")).to_have_count(5)
    expect(changes.locator("li").first).to_contain_text("1 → 2")
    expect(page.locator("tr[data-replica]")).to_have_count(2)
    shots.take(page, "service")
    page.get_by_role("button", name="Scale down").click()
    expect(page.locator(".counts")).to_contain_text("1 desired · 1 running")
    assert page.evaluate("window.__same_page") is True

    # with a health check, each replica's health, its reason on hover
    expect(page.locator("tr[data-replica]")).to_have_count(1)  # the one scaled down is gone
    health = page.locator("tr[data-replica] td[data-label='Health']")
    expect(health).to_have_text("\u2013")  # an en dash: no check
    check = {"http": "GET / HTTP/1.0", "interval": "500ms", "timeout": "500ms", "strategy": "none"}
    assert server.client.put("/v1/services/web/healthcheck", json=check).status_code == 200
    try:
        expect(health).to_have_text("healthy", timeout=15_000)
        expect(health).to_have_attribute("title", re.compile(r"^passed \d+ check"))
    finally:
        server.client.delete("/v1/services/web/healthcheck")
    no_page_errors(page)


def test_a_receiver_from_create_to_delete(
    page: Page, context: BrowserContext, server: ServerProcess, shots: Shots
) -> None:
    sign_in(page, server, "#/receivers")
    form = page.locator("form.create")
    form.get_by_label("Name").fill("web-up")
    form.get_by_label("Service").select_option("web")
    form.get_by_label("Amount").fill("1")
    form.get_by_label("Max").fill("2")
    form.get_by_role("button", name="Create receiver").click()

    panel = page.locator("section.secret-url")
    expect(panel).to_contain_text("Trigger URL of web-up")
    url = panel.locator("input").input_value()
    assert url.startswith(f"{server.url}/v1/hooks/shk_")
    panel.get_by_role("button", name="Copy URL").click()
    expect(panel.get_by_role("status")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == url
    line = page.locator('tr[data-receiver="web-up"]')
    expect(line.locator(".describe")).to_contain_text("Scale up web by 1, max 2")
    expect(line.locator(".state")).to_have_text("enabled")
    shots.take(page, "receivers")

    # a second receiver of the same name: the API's message, under the Name field
    form.get_by_label("Name").fill("web-up")
    form.get_by_role("button", name="Create receiver").click()
    name_error = form.locator(".field-error").first
    expect(name_error).to_have_text("a receiver named 'web-up' exists already")
    # min above max: the API's message, where the form can show it
    form.get_by_label("Name").fill("web-bad")
    form.get_by_label("Min").fill("4")
    form.get_by_label("Max").fill("2")
    form.get_by_role("button", name="Create receiver").click()
    expect(form.locator(".field-error:visible, .form-error:visible")).to_contain_text("min")

    # trigger it from outside, on the activity page: the execution arrives live
    page.goto(f"{server.url}/ui/#/activity?receiver=web-up")
    expect(page.locator(".live-state")).to_have_text("Live")
    page.evaluate("window.__same_page = true")
    assert httpx.post(url, timeout=30).status_code == 200
    item = page.locator("li.execution").first
    expect(item).to_contain_text("receiver web-up")
    expect(item).to_contain_text("1 → 2")
    expect(item.locator(".result")).to_have_text("scaled")
    item.locator("summary").click()
    expect(item.locator("pre.json")).to_be_visible()
    shots.take(page, "activity")
    assert page.evaluate("window.__same_page") is True

    # pause: a trigger is recorded as paused
    page.goto(f"{server.url}/ui/#/receivers")
    line.get_by_role("button", name="Pause").click()
    expect(line.locator(".state")).to_contain_text("paused")
    assert httpx.post(url, timeout=30).json()["result"] == "paused"
    line.get_by_role("button", name="Resume").click()
    expect(line.locator(".state")).to_have_text("enabled")
    line.get_by_role("button", name="Dry run").click()
    expect(line.locator(".state")).to_contain_text("dry run")
    line.get_by_role("button", name="Go live").click()
    expect(line.locator(".state")).not_to_contain_text("dry run")

    # rotate, after a confirmation: a new URL shown once; the old one stops working
    line.get_by_role("button", name="Rotate URL").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Rotate the URL of web-up?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    line.get_by_role("button", name="Rotate URL").click()
    page.get_by_role("dialog").get_by_role("button", name="Rotate").click()
    rotated = page.locator("section.secret-url").first
    expect(rotated).to_contain_text("new, after rotate")
    new_url = rotated.locator("input").input_value()
    assert new_url != url
    assert httpx.post(url, timeout=30).status_code == 404
    assert httpx.post(new_url, timeout=30).status_code == 200

    # delete, after a confirmation
    line.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Delete receiver web-up?")
    dialog.get_by_role("button", name="Delete").click()
    expect(line).to_have_count(0)
    assert httpx.post(new_url, timeout=30).status_code == 404
    server.client.post("/v1/services/web/scale", json={"replicas": 1}).raise_for_status()
    no_page_errors(page)


def test_a_rollout_shows_its_progress_and_blocks_scaling_while_it_runs(
    page: Page, server: ServerProcess, shots: Shots
) -> None:
    sign_in(page, server, "#/receivers")
    form = page.locator("form.create")
    form.get_by_label("Name").fill("shop-deploy")
    form.get_by_label("Driver").select_option("serviceUpgrade")
    form.get_by_label("Services labelled").fill("app=shop")
    form.get_by_label("Batch interval").fill("3s")
    form.get_by_label("Health timeout").fill("20s")
    form.get_by_role("button", name="Create receiver").click()
    panel = page.locator("section.secret-url")
    url = panel.locator("input").input_value()
    expect(page.locator('tr[data-receiver="shop-deploy"] .describe')).to_contain_text(
        "Upgrade services labelled app=shop on a semver push"
    )

    page.goto(f"{server.url}/ui/#/services")
    expect(row(page, "shop").get_by_role("button", name="Scale up")).to_be_enabled()
    pushed = hook(url, {"image": "acme/app:2"})
    assert pushed.status_code == 202, pushed.text
    execution_id = pushed.json()["id"]
    scale_up = row(page, "shop").get_by_role("button", name="Scale up")
    expect(scale_up).to_be_disabled()
    expect(row(page, "shop").get_by_label("Replicas")).to_be_disabled()
    expect(row(page, "shop").locator(".scale-status")).to_contain_text("a rollout is running")

    page.goto(f"{server.url}/ui/#/activity?service=local%2Fshop")
    item = page.locator(f'li.execution[data-id="{execution_id}"]')
    expect(item).to_have_attribute("data-status", "running", timeout=5_000)
    item.locator("summary").click()
    progress = item.get_by_role("progressbar", name="Rollout of local/shop")
    expect(progress).to_be_visible()
    expect(item.locator("ol.batches li")).to_have_count(2)
    expect(item.locator("ol.batches li.ready")).to_have_count(1, timeout=30_000)
    shots.take(page, "rollout")
    assert item.get_attribute("data-status") == "running"
    expect(item).to_have_attribute("data-status", "done", timeout=60_000)
    expect(item.locator(".result")).to_have_text("upgraded")
    expect(item.locator("ol.batches li.ready")).to_have_count(2)
    expect(progress).to_have_attribute("value", "2")
    assert finished(server, execution_id)["result"] == "upgraded"

    page.goto(f"{server.url}/ui/#/services")
    expect(row(page, "shop").get_by_role("button", name="Scale up")).to_be_enabled()
    expect(count(page, "shop", "image")).to_have_text("acme/app:2")
    no_page_errors(page)


def test_engine_and_user_text_is_shown_as_text(page: Page, server: ServerProcess) -> None:
    created = server.create_receiver("escape-me", "serviceUpgrade", selector={"app": "shop"})
    evil = '<img src=x onerror="window.__xss=1">:1'
    answer = hook(created["url"], {"image": evil})
    assert answer.status_code == 400
    recorded = server.client.get("/v1/executions", params={"receiver": "escape-me"}).json()[0]
    assert "<img" in recorded["message"] + str(recorded["details"])
    sign_in(page, server, "#/activity?receiver=escape-me")
    item = page.locator("li.execution").first
    item.locator("summary").click()
    expect(item).to_contain_text("<img")
    assert page.locator("li.execution img").count() == 0
    assert page.evaluate("window.__xss") is None
    no_page_errors(page)


def test_csrf_is_needed_with_the_session_cookie(page: Page, server: ServerProcess) -> None:
    sign_in(page, server)
    cookie = next(c for c in page.context.cookies() if c["name"] == COOKIE)
    cookies = {COOKIE: cookie["value"]}
    scale = f"{server.url}/v1/services/web/scale"
    refused = httpx.post(scale, json={"replicas": 1}, cookies=cookies)
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden"
    csrf = httpx.get(f"{server.url}/ui/session", cookies=cookies).json()["csrf_token"]
    done = httpx.post(scale, json={"replicas": 1}, cookies=cookies, headers={"X-CSRF-Token": csrf})
    assert done.status_code == 200, done.text
    # what the page itself sends: its fetch carries the token
    answer = page.evaluate(
        """async () => (await fetch('../v1/services/web/scale', {method: 'POST',
            headers: {'Content-Type': 'application/json'}, body: '{"replicas": 1}'})).status"""
    )
    assert answer == 403  # a script without the token is refused too


def test_the_hosts_page_says_when_host_scaling_is_off(
    page: Page, server: ServerProcess, shots: Shots
) -> None:
    sign_in(page, server, "#/hosts")
    notice = page.locator(".notice")
    expect(notice).to_contain_text("Host scaling is not configured")
    expect(notice).to_contain_text("add a 'hosts:' section to scalehook.yaml")
    shots.take(page, "hosts")


def test_phone_width_is_readable(browser: Browser, server: ServerProcess, shots: Shots) -> None:
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        sign_in(page, server)
        pages = (
            ("services", "#/services", "tr[data-service]"),
            ("receivers", "#/receivers", "form.create"),
            ("activity", "#/activity", "li.execution"),
            ("service", "#/services/local%2Fweb", "tr[data-replica]"),
        )
        for name, path, shown in pages:
            page.goto(f"{server.url}/ui/{path}")
            expect(page.locator(shown).first).to_be_visible()
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{name} scrolls sideways by {overflow}px"
            shots.take(page, f"phone-{name}")
    finally:
        context.close()


def test_keyboard_alone_signs_in_and_scales(page: Page, server: ServerProcess) -> None:
    page.goto(f"{server.url}/ui/")
    expect(page.get_by_label("Admin token")).to_be_focused()
    page.keyboard.type(server.token)
    page.keyboard.press("Enter")
    expect(count(page, "web", "desired")).to_have_text("1")
    button = row(page, "web").get_by_role("button", name="Scale up")
    button.focus()
    page.keyboard.press("Enter")
    expect(count(page, "web", "desired")).to_have_text("2")
    outline = button.evaluate("b => getComputedStyle(b).outlineStyle")
    assert outline != "none"  # focus is visible
    page.keyboard.press("Shift+Tab")  # to Scale down
    page.keyboard.press("Space")
    expect(count(page, "web", "desired")).to_have_text("1")


def test_sign_out_ends_the_session(page: Page, server: ServerProcess) -> None:
    sign_in(page, server)
    cookie = next(c for c in page.context.cookies() if c["name"] == COOKIE)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Admin token")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("Signed out.")
    response = httpx.get(f"{server.url}/v1/services", cookies={COOKIE: cookie["value"]})
    assert response.status_code == 401
    page.reload()
    expect(page.get_by_label("Admin token")).to_be_visible()


def test_the_link_a_notification_carries_opens_its_execution(
    page: Page, server: ServerProcess
) -> None:
    scaled = server.client.post("/v1/services/web/scale", json={"replicas": 1}).json()
    sign_in(page, server, f"#/activity?execution={scaled['id']}")
    expect(page.locator("h1")).to_have_text(f"Execution #{scaled['id']}")
    items = page.locator("li.execution")
    expect(items).to_have_count(1)
    expect(items.first.locator("details")).to_have_attribute("open", "")
    expect(items.first).to_contain_text(scaled["message"])
    page.goto(f"{server.url}/ui/#/activity?execution=999999")
    expect(page.get_by_text("There is no such execution.")).to_be_visible()
    no_page_errors(page)


def test_a_part_of_the_page_that_cannot_be_fetched_is_said_and_reload_draws_it(
    page: Page, server: ServerProcess
) -> None:
    # The browser's own network failing one fetch (as a change of the machine's network
    # does, net::ERR_NETWORK_CHANGED): the page says so instead of staying blank.
    page.route("**/ui/forms.js", lambda route: route.abort("internetdisconnected"))
    page.goto(f"{server.url}/ui/")
    expect(page.get_by_role("heading", name="The page did not load")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("could not be fetched from scalehook")
    page.unroute("**/ui/forms.js")
    page.get_by_role("button", name="Reload").click()
    expect(page.get_by_label("Admin token")).to_be_visible()
