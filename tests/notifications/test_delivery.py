"""Notifications from a real ``scalehook serve`` to a real HTTP sink on loopback: what
is sent, to whom, signed how; retried when the sink fails, kept across a ``kill -9``,
and never in the way of the trigger it reports."""

from __future__ import annotations

import re
from typing import Any

import httpx

from scalehook.testing import ServerProcess, wait_until
from scalehook.testing_postgres import PostgresCluster
from tests.conftest import ServerFactory, web_service
from tests.notifications.conftest import config
from tests.notifications.sinks import HttpSink, wait_deliveries

SECRET = "webhook-secret-9c1e44"


def notify(server: ServerProcess, **body: Any) -> dict[str, Any]:
    response = server.client.post("/v1/notifications", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def deliveries(server: ServerProcess, name: str, **params: Any) -> list[dict[str, Any]]:
    response = server.client.get(f"/v1/notifications/{name}/deliveries", params=params)
    response.raise_for_status()
    rows: list[dict[str, Any]] = response.json()
    return rows


def trigger(url: str) -> dict[str, Any]:
    response = httpx.post(url, timeout=30)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def metric(server: ServerProcess, name: str, **labels: str) -> float | None:
    text = httpx.get(f"{server.url}/metrics", timeout=30).text
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    found = re.search(rf"^{name}\{{{re.escape(want)}\}} (\S+)$", text, re.M)
    return None if found is None else float(found.group(1))


def test_a_webhook_gets_the_execution_signed_with_its_secret(
    make_server: ServerFactory, sink: HttpSink
) -> None:
    server = make_server(config({"web": web_service()}))
    notify(server, name="ops", type="webhook", url=f"{sink.url}/hook", secret=SECRET)
    receiver = server.create_receiver("web-up", service="web", action="up", amount=2, max=5)

    execution = trigger(receiver["url"])

    (request,) = sink.wait_for(1)
    assert request.path == "/hook"
    assert request.signed_by(SECRET)
    assert not request.signed_by(SECRET + "x")
    assert request.header("Content-Type") == "application/json"
    assert request.header("X-Scalehook-Event") == "execution"
    assert int(request.header("X-Scalehook-Timestamp") or 0) > 1_700_000_000
    body = request.json()
    assert body["notification"] == "ops"
    assert request.header("X-Scalehook-Delivery") == str(body["delivery"])
    # the same shape as GET /v1/executions/{id}
    assert body["execution"] == server.client.get(f"/v1/executions/{execution['id']}").json()
    assert body["execution"]["result"] == "scaled"

    (delivery,) = wait_deliveries(
        lambda: deliveries(server, "ops"), lambda rows: rows[0]["status"] == "delivered"
    )
    assert (delivery["attempts"], delivery["execution_id"]) == (1, execution["id"])
    assert delivery["last_error"] is None and delivery["next_try_at"] is None
    assert (
        metric(server, "scalehook_notifications_total", notification="ops", status="delivered") == 1
    )


def test_filters_send_only_what_matches(make_server: ServerFactory, sink: HttpSink) -> None:
    server = make_server(config({"web": web_service(), "other": web_service()}))
    filters: dict[str, dict[str, Any]] = {
        "all": {},
        "failures": {"result": ["failed", "rolled_back"]},
        "by-hand": {"driver": "api"},
        "web": {"service": ["web"]},
        "local-web": {"service": ["local/web"]},
        "other-receiver": {"receiver": ["other-up"]},
        "other-scaled": {"result": ["scaled"], "service": ["other"]},
        "elsewhere": {"service": ["docker/web"]},
    }
    for name, on in filters.items():
        notify(server, name=name, type="webhook", url=f"{sink.url}/{name}", on=on)
    web_up = server.create_receiver("web-up", service="web", action="up", amount=1, max=2)
    other_up = server.create_receiver("other-up", service="other", action="up", amount=1, max=1)

    scaled_web = trigger(web_up["url"])  # scaleService, web, scaled
    noop_other = trigger(other_up["url"])  # scaleService, other, noop (at max 1)
    by_hand = server.client.post("/v1/services/web/scale", json={"replicas": 1}).json()
    failed = server.client.post("/v1/services/ghost/scale", json={"replicas": 2})
    assert failed.status_code == 404  # recorded as a failed execution all the same
    failed_id = failed.json()["execution_id"]
    assert noop_other["result"] == "noop" and by_hand["result"] == "scaled"

    expected = {
        "all": [scaled_web["id"], noop_other["id"], by_hand["id"], failed_id],
        "failures": [failed_id],
        "by-hand": [by_hand["id"], failed_id],
        "web": [scaled_web["id"], by_hand["id"]],
        "local-web": [scaled_web["id"], by_hand["id"]],
        "other-receiver": [noop_other["id"]],
        "other-scaled": [],
        "elsewhere": [],
    }
    # Deliveries are enqueued with the execution, before its answer: once none is
    # pending, the sink has everything it will ever get.
    for name in filters:
        wait_deliveries(
            lambda name=name: deliveries(server, name),  # type: ignore[misc]
            lambda rows: all(r["status"] == "delivered" for r in rows),
            what=name,
        )
    for name, ids in expected.items():
        got = sorted(r.json()["execution"]["id"] for r in sink.received(f"/{name}"))
        assert got == sorted(ids), name


def test_a_failing_sink_gets_the_delivery_retried_then_delivered(
    make_server: ServerFactory, sink: HttpSink
) -> None:
    server = make_server(config({"web": web_service()}))
    notify(server, name="ops", type="webhook", url=f"{sink.url}/hook")
    receiver = server.create_receiver("web-up", service="web", action="up", amount=1, max=3)
    sink.answers = {"/hook": [500, 500]}

    execution = trigger(receiver["url"])
    assert execution["result"] == "scaled"  # the failing sink changes nothing of the action

    (delivery,) = wait_deliveries(
        lambda: deliveries(server, "ops"), lambda rows: rows[0]["status"] == "delivered"
    )
    assert delivery["attempts"] == 3
    assert "answered 500" in delivery["last_error"]  # the last failed try, kept
    requests = sink.wait_for(3)
    assert len({r.header("X-Scalehook-Delivery") for r in requests}) == 1  # one delivery
    assert (
        metric(server, "scalehook_notifications_total", notification="ops", status="retrying") == 2
    )
    assert (
        metric(server, "scalehook_notifications_total", notification="ops", status="delivered") == 1
    )
    assert metric(server, "scalehook_notification_outbox_depth", notification="ops") == 0


def test_a_delivery_that_keeps_failing_is_failed_visible_and_can_be_sent_again(
    make_server: ServerFactory, sink: HttpSink
) -> None:
    server = make_server(config({"web": web_service()}, attempts=3))
    notify(server, name="ops", type="webhook", url=f"{sink.url}/hook")
    notify(server, name="gone", type="webhook", url=f"{sink.url}/gone")
    receiver = server.create_receiver("web-up", service="web", action="up", amount=1, max=3)
    sink.answers = {"/hook": [500] * 3, "/gone": [410]}  # a 410 is refused for good

    trigger(receiver["url"])

    for name in ("ops", "gone"):
        wait_deliveries(
            lambda name=name: deliveries(server, name, status="failed"),  # type: ignore[misc]
            lambda rows: len(rows) == 1,
            what=name,
        )
    failed = deliveries(server, "ops", status="failed") + deliveries(
        server, "gone", status="failed"
    )
    assert [d["attempts"] for d in failed] == [3, 1]  # a 4xx is not retried
    assert all("answered" in d["last_error"] for d in failed)
    assert all(d["next_try_at"] is None for d in failed)
    assert deliveries(server, "ops", status="pending") == []
    counted = [
        metric(server, "scalehook_notifications_total", notification=n, status="failed")
        for n in ("ops", "gone")
    ]
    assert counted == [1, 1]

    retried = server.client.post("/v1/notifications/ops/deliveries/retry").json()
    assert retried == {"retried": 1}
    (again,) = wait_deliveries(
        lambda: deliveries(server, "ops"), lambda rows: rows[0]["status"] == "delivered"
    )
    assert again["attempts"] == 1


def test_the_outbox_delivers_after_a_kill_9(make_server: ServerFactory) -> None:
    down = HttpSink()  # its port is chosen, nothing listens there yet
    server = make_server(config({"web": web_service()}, backoff="500ms", max_backoff="2s"))
    notify(server, name="ops", type="webhook", url=f"{down.url}/hook", secret=SECRET)
    receiver = server.create_receiver("web-up", service="web", action="up", amount=1, max=3)

    execution = trigger(receiver["url"])
    (pending,) = wait_deliveries(
        lambda: deliveries(server, "ops", status="pending"),
        lambda rows: len(rows) == 1 and rows[0]["attempts"] >= 1,
    )
    assert "cannot reach 127.0.0.1" in pending["last_error"]
    assert pending["next_try_at"] is not None

    server.kill()  # kill -9: nothing is flushed, nothing is handed over
    with down:
        server.start()
        (request,) = down.wait_for(1)
        body = request.json()
        assert body["execution"]["id"] == execution["id"]
        assert body["delivery"] == pending["id"]
        assert request.signed_by(SECRET)
        (delivered,) = wait_deliveries(
            lambda: deliveries(server, "ops"), lambda rows: rows[0]["status"] == "delivered"
        )
        assert delivered["attempts"] > pending["attempts"]


def test_a_hanging_sink_never_holds_up_the_trigger(
    make_server: ServerFactory, sink: HttpSink
) -> None:
    server = make_server(config({"web": web_service()}, timeout="60s"))
    notify(server, name="ops", type="webhook", url=f"{sink.url}/hook")
    receiver = server.create_receiver("web-up", service="web", action="up", amount=1, max=9)
    sink.hang.set()

    first = trigger(receiver["url"])
    wait_until(lambda: sink.hanging >= 1, what="the first delivery held by the sink")
    # While the sink holds that delivery (for up to a minute), triggers answer at once,
    # with their action done and recorded.
    more = [trigger(receiver["url"]) for _ in range(3)]
    assert sink.hanging >= 1
    assert [e["result"] for e in [first, *more]] == ["scaled"] * 4
    assert server.service("web")["desired"] == 5
    sink.release()
    wait_deliveries(
        lambda: deliveries(server, "ops"),
        lambda rows: len(rows) == 4 and all(r["status"] == "delivered" for r in rows),
    )


def test_a_rollout_notifies_once_when_it_ends_with_its_final_result(
    make_server: ServerFactory, sink: HttpSink
) -> None:
    service = web_service(image="acme/web:1")
    server = make_server(config({"web": service}))
    notify(server, name="ops", type="webhook", url=f"{sink.url}/hook", on={"service": "web"})
    upgrade = server.create_receiver(
        "web-deploy", driver="serviceUpgrade", selector={"tier": "front"}, batch_interval=0
    )
    answer = httpx.post(upgrade["url"], json={"image": "acme/web:2"}, timeout=30)
    assert answer.status_code == 202
    execution_id = answer.json()["id"]

    (request,) = sink.wait_for(1)
    sent = request.json()["execution"]
    assert sent["id"] == execution_id
    assert (sent["result"], sent["status"]) == ("upgraded", "done")
    assert sent == server.client.get(f"/v1/executions/{execution_id}").json()
    wait_deliveries(
        lambda: deliveries(server, "ops"), lambda rows: rows[0]["status"] == "delivered"
    )
    assert len(sink.received()) == 1  # not for each step of the rollout


def test_two_instances_on_one_postgresql_send_each_delivery_once(
    make_server: ServerFactory, sink: HttpSink, postgres: PostgresCluster
) -> None:
    settings = config({"web": web_service()}, refresh="200ms")
    settings["database"] = postgres.create_database()  # its tables: the first's migrations
    # Each instance scales a local service of its own, only to make executions to send:
    # ``alone`` lets a local backend on PostgreSQL (what the outbox shares is the point).
    settings["alone"] = True
    first = make_server(settings, name="first")
    notify(first, name="ops", type="webhook", url=f"{sink.url}/ops")
    second = make_server(
        {**settings, "services": {"web": web_service()}}, name="second", token=first.token
    )
    urls = [s.create_receiver(f"up-{i}", service="web", action="up", amount=1, max=50)["url"]
            for i, s in enumerate((first, second))]  # fmt: skip
    executions = [trigger(urls[i % 2])["id"] for i in range(20)]

    # A notification made on one instance is seen by the other within `refresh`.
    notify(first, name="late", type="webhook", url=f"{sink.url}/late")
    wait_until(lambda: trigger(urls[1]) and sink.received("/late"), timeout=30, interval=0.3)

    rows = wait_deliveries(
        lambda: deliveries(first, "ops", limit=1000),
        lambda rows: len(rows) >= 20 and all(r["status"] == "delivered" for r in rows),
    )
    sent = sink.received("/ops")
    assert len(sent) == len(rows)  # each delivery sent once, by one of the two
    assert len({r.header("X-Scalehook-Delivery") for r in sent}) == len(rows)
    assert set(executions) <= {r.json()["execution"]["id"] for r in sent}
