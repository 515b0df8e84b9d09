"""The UI's sign-in, session cookie and CSRF rule, its pages' headers, and the execution
stream, against a real server (plain HTTP: the browser tests are in tests/ui)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import pytest

from scalehook.domain.sessions import COOKIE, hash_session_id
from scalehook.testing import ServerProcess, wait_until


@contextlib.contextmanager
def signed_in(server: ServerProcess) -> Iterator[tuple[httpx.Client, str, httpx.Response]]:
    """A client holding a session cookie (no Authorization header), its CSRF token, and
    the sign-in answer."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        response = client.post("/ui/session", json={"token": server.token})
        assert response.status_code == 201, response.text
        yield client, response.json()["csrf_token"], response


def test_a_wrong_token_is_refused_naming_the_field(web_server: ServerProcess) -> None:
    response = httpx.post(f"{web_server.url}/ui/session", json={"token": "not-the-token-at-all"})
    assert response.status_code == 401
    assert response.json()["field"] == "token"
    assert response.json()["message"] == "the admin token is not valid"
    assert "set-cookie" not in response.headers
    empty = httpx.post(f"{web_server.url}/ui/session", json={"token": ""})
    assert empty.status_code == 422
    assert empty.json()["field"] == "token"


def test_the_cookie_is_a_random_session_id_kept_only_as_a_hash(web_server: ServerProcess) -> None:
    with signed_in(web_server) as (_, csrf, response):
        header = response.headers["set-cookie"]
        cookie = SimpleCookie()
        cookie.load(header)
        morsel = cookie[COOKIE]
        assert morsel["httponly"] is True
        assert morsel["samesite"] == "strict"
        assert morsel["path"] == "/"
        assert int(morsel["max-age"]) == 12 * 3600
        assert not morsel["secure"]  # served over plain http here
        session_id = morsel.value
        assert web_server.token not in header
        assert web_server.token not in response.text
        assert len(session_id) >= 40 and session_id != csrf
        assert response.headers["cache-control"] == "no-store"

        rows = web_server.rows("SELECT id_hash, csrf FROM sessions")
        dumped = web_server.dump()
        assert (hash_session_id(session_id), csrf) in rows
        assert session_id not in dumped
        assert web_server.token not in dumped


def test_the_cookie_reads_and_changes_with_its_csrf_token(web_server: ServerProcess) -> None:
    with signed_in(web_server) as (client, csrf, _):
        assert client.get("/v1/services").status_code == 200
        assert client.get("/ui/session").json()["csrf_token"] == csrf

        body = {"replicas": 1}
        refused = client.post("/v1/services/web/scale", json=body)
        assert refused.status_code == 403
        assert refused.json()["error"] == "forbidden"
        assert refused.json()["field"] == "X-CSRF-Token"
        wrong = client.post("/v1/services/web/scale", json=body, headers={"X-CSRF-Token": "x"})
        assert wrong.status_code == 403
        done = client.post("/v1/services/web/scale", json=body, headers={"X-CSRF-Token": csrf})
        assert done.status_code == 200, done.text
        assert done.json()["driver"] == "api"

        # the Bearer token needs no CSRF token, with or without a cookie
        bearer = {"Authorization": f"Bearer {web_server.token}"}
        assert client.post("/v1/services/web/scale", json=body, headers=bearer).status_code == 200


def test_sign_out_ends_the_session_everywhere(web_server: ServerProcess) -> None:
    with signed_in(web_server) as (client, csrf, _):
        session_id = client.cookies[COOKIE]
        assert client.delete("/ui/session").status_code == 403  # no CSRF token
        out = client.delete("/ui/session", headers={"X-CSRF-Token": csrf})
        assert out.status_code == 204
        assert f"{COOKIE}=" in out.headers["set-cookie"]
        assert "max-age=0" in out.headers["set-cookie"].lower()
    # the old cookie, sent again by hand, no longer works
    cookies = {COOKIE: session_id}
    for method, path in (("GET", "/v1/services"), ("GET", "/ui/session")):
        response = httpx.request(method, f"{web_server.url}{path}", cookies=cookies)
        assert response.status_code == 401, path
        assert response.json()["message"]
    refused = httpx.post(
        f"{web_server.url}/v1/services/web/scale",
        json={"replicas": 1},
        cookies=cookies,
        headers={"X-CSRF-Token": csrf},
    )
    assert refused.status_code == 401


def test_an_unknown_cookie_is_refused(web_server: ServerProcess) -> None:
    response = httpx.get(f"{web_server.url}/v1/receivers", cookies={COOKIE: "made-up"})
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert httpx.get(f"{web_server.url}/ui/session").status_code == 401


def test_the_trigger_stays_open_with_or_without_a_cookie(web_server: ServerProcess) -> None:
    created = web_server.create_receiver(
        "ui-open", service="web", action="up", amount=1, min=1, max=1
    )
    response = httpx.post(created["url"], cookies={COOKIE: "anything"})
    assert response.status_code == 200
    assert response.json()["receiver_name"] == "ui-open"


def test_ui_pages_carry_a_strict_csp(web_server: ServerProcess) -> None:
    root = httpx.get(f"{web_server.url}/")
    assert root.status_code == 302
    assert root.headers["location"] == "ui/"
    page = httpx.get(f"{web_server.url}/ui/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "<script" in page.text and "style=" not in page.text
    script = httpx.get(f"{web_server.url}/ui/app.js")
    assert script.headers["content-type"].startswith("text/javascript")
    etag = {"If-None-Match": script.headers["etag"]}
    again = httpx.get(f"{web_server.url}/ui/app.js", headers=etag)
    assert again.status_code == 304
    for path in ("/ui/missing.js", "/ui/../pyproject.toml", "/ui/%2e%2e/__init__.py"):
        assert httpx.get(f"{web_server.url}{path}").status_code == 404, path


def test_executions_filter_by_result_and_status(web_server: ServerProcess) -> None:
    web_server.client.post("/v1/services/web/scale", json={"replicas": 1}).raise_for_status()
    listed = web_server.client.get("/v1/executions", params={"result": "noop"}).json()
    assert listed and all(e["result"] == "noop" for e in listed)
    done = web_server.client.get("/v1/executions", params={"status": "done"}).json()
    assert done and all(e["status"] == "done" for e in done)
    assert web_server.client.get("/v1/executions", params={"status": "running"}).json() == []
    assert web_server.client.get("/v1/executions", params={"status": "later"}).status_code == 422


class Stream:
    """Reads GET /v1/executions/stream in a thread: its events, as they come."""

    def __init__(
        self, server: ServerProcess, params: dict[str, str], headers: dict[str, str] | None = None
    ) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.status: int | None = None
        self._client = httpx.Client(
            base_url=server.url,
            headers={**server.client.headers, **(headers or {})},
            timeout=httpx.Timeout(30, read=60),
        )
        self._params = params
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            with self._client.stream("GET", "/v1/executions/stream", params=self._params) as r:
                self.status = r.status_code
                event_id = ""
                for line in r.iter_lines():
                    if line.startswith("id: "):
                        event_id = line[4:]
                    elif line.startswith("data: "):
                        self.events.append((event_id, json.loads(line[6:])))
        except httpx.HTTPError:
            pass

    def __enter__(self) -> Stream:
        self._thread.start()
        wait_until(lambda: self.status is not None, what="the stream answers")
        return self

    def __exit__(self, *_: object) -> None:
        self._client.close()


@pytest.fixture
def scale_up(web_server: ServerProcess) -> Iterator[dict[str, Any]]:
    created = web_server.create_receiver(
        "stream-up", service="web", action="up", amount=1, min=1, max=1
    )
    yield created
    web_server.client.delete(f"/v1/receivers/{created['id']}")


def test_the_stream_sends_new_executions_matching_its_filters(
    web_server: ServerProcess, scale_up: dict[str, Any]
) -> None:
    with Stream(web_server, {"receiver": "stream-up"}) as stream:
        assert stream.status == 200
        httpx.post(scale_up["url"]).raise_for_status()  # recorded for stream-up
        web_server.client.post("/v1/services/web/scale", json={"replicas": 1})  # not
        httpx.post(scale_up["url"]).raise_for_status()
        wait_until(lambda: len(stream.events) >= 2, what="two events")
        ids = [e["id"] for _, e in stream.events]
        assert all(e["receiver_name"] == "stream-up" for _, e in stream.events)
        assert ids == sorted(ids)
        assert stream.events[-1][0] == str(ids[-1])  # the event id is the cursor
        one = web_server.client.get(f"/v1/executions/{ids[0]}").json()
        assert stream.events[0][1] == one

    # a reconnecting EventSource sends Last-Event-ID: it gets what came after only
    httpx.post(scale_up["url"]).raise_for_status()
    resumed = {"Last-Event-ID": str(ids[-1])}
    with Stream(web_server, {"receiver": "stream-up"}, resumed) as again:
        wait_until(lambda: again.events, what="the execution recorded in between")
        assert again.events[0][1]["id"] > ids[-1]
        assert again.events[0][1]["receiver_name"] == "stream-up"


def test_the_stream_is_refused_without_admin(web_server: ServerProcess) -> None:
    response = httpx.get(f"{web_server.url}/v1/executions/stream")
    assert response.status_code == 401


def test_a_new_admin_token_ends_every_session(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "rotated", {"services": {}})
    server.start()
    try:
        with signed_in(server) as (client, _, _):
            assert client.get("/v1/receivers").status_code == 200
            session_id = client.cookies[COOKIE]
        server.stop()
        server.token = "a-brand-new-admin-token-0123456789"
        server.start()
        response = httpx.get(f"{server.url}/v1/receivers", cookies={COOKIE: session_id})
        assert response.status_code == 401
        assert "admin token has changed" in response.json()["message"]
    finally:
        server.close()
