"""Alertmanager notifications against a real scalehook: what is answered, done and recorded.

The bodies are Alertmanager's own shape (see ``notifications.py``); the end-to-end
tests with real Prometheus and Alertmanager are in ``test_end_to_end.py``.
"""

from __future__ import annotations

import concurrent.futures
import re
from typing import Any

import httpx
import pytest

from scalehook.testing import ServerProcess
from tests.alerts.notifications import USER_AGENT, am_alert, notification
from tests.conftest import ServerFactory, web_service


def post(url: str, body: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
    if body is None:
        return httpx.post(url, timeout=30, **kwargs)
    return httpx.post(url, json=body, headers=USER_AGENT, timeout=30, **kwargs)


def executions(server: ServerProcess, receiver: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = server.client.get(
        "/v1/executions", params={"receiver": receiver}
    ).json()
    return rows


def alert_counts(server: ServerProcess, receiver: str) -> dict[tuple[str, str], float]:
    """``scalehook_alerts_total`` of one receiver, by (status, reason)."""
    counts: dict[tuple[str, str], float] = {}
    for line in httpx.get(server.url + "/metrics").text.splitlines():
        match = re.match(r"^scalehook_alerts_total\{(.*)\} (\S+)$", line)
        if match:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
            if labels["receiver"] == receiver:
                counts[(labels["status"], labels["reason"])] = float(match.group(2))
    return counts


def test_an_incident_scales_once_across_resends_and_restarts(make_server: ServerFactory) -> None:
    server = make_server({"services": {"web": web_service()}})
    receiver = server.create_receiver("am", service="web", action="up", max=5, on_resolved="down")
    firing = notification(am_alert("HighLoad", severity="page"))

    first = post(receiver["url"], firing)
    assert first.status_code == 200, first.text
    execution = first.json()
    assert (execution["result"], execution["before"], execution["after"]) == ("scaled", 1, 2)
    assert execution["message"] == "1 firing (HighLoad): scaled from 1 to 2"
    assert execution["details"]["source"] == "alertmanager"
    assert [a["reason"] for a in execution["details"]["alerts"]] == ["acted"]
    for _ in range(3):
        again = post(receiver["url"], firing).json()
        assert (again["result"], again["after"]) == ("deduped", 2)

    server.stop()
    server.start()
    after_restart = post(receiver["url"], firing).json()
    assert (after_restart["result"], after_restart["after"]) == ("deduped", 2)
    assert server.service("web")["desired"] == 2

    resolved = notification(am_alert("HighLoad", "resolved", severity="page"))
    down = post(receiver["url"], resolved).json()
    assert (down["result"], down["before"], down["after"]) == ("scaled", 2, 1)
    assert post(receiver["url"], resolved).json()["result"] == "deduped"
    assert server.service("web")["desired"] == 1
    trail = [e["result"] for e in reversed(executions(server, "am"))]
    assert trail == ["scaled", "deduped", "deduped", "deduped", "deduped", "scaled", "deduped"]
    assert alert_counts(server, "am") == {
        ("firing", "deduped"): 1.0,  # counters restart with the process
        ("resolved", "acted"): 1.0,
        ("resolved", "deduped"): 1.0,
    }


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.update(version="5"), "version"),
        (lambda b: b.update(alerts="many"), "alerts"),
        (lambda b: b["alerts"][0].update(status="pending"), "alerts[0].status"),
        (lambda b: b["alerts"][0].pop("fingerprint"), "alerts[0].fingerprint"),
        (lambda b: b["alerts"][0].update(startsAt="yesterday"), "alerts[0].startsAt"),
        (lambda b: b["alerts"][0].update(labels=[1]), "alerts[0].labels"),
    ],
)
def test_malformed_notifications_get_400_and_change_nothing(
    web_server: ServerProcess, mutate: Any, field: str
) -> None:
    name = f"bad-{abs(hash(field)) % 10**6}"
    receiver = web_server.create_receiver(name, service="web", action="up", max=5)
    body = notification(am_alert("HighLoad"))
    mutate(body)
    before = web_server.service("web")["desired"]
    response = post(receiver["url"], body)
    assert response.status_code == 400
    error = response.json()
    assert (error["error"], error["field"]) == ("invalid_payload", field)
    assert error["message"].startswith(f"Alertmanager body: {field}: ")
    assert "Traceback" not in response.text
    assert web_server.service("web")["desired"] == before
    assert executions(web_server, name) == []


def test_plain_posts_keep_working_and_honour_the_cooldown(web_server: ServerProcess) -> None:
    receiver = web_server.create_receiver(
        "plain-cool", service="web", action="up", max=50, cooldown={"up": "1h"}
    )
    assert receiver["config"]["cooldown"] == {"up": 3600.0, "down": 0.0}
    first = post(receiver["url"]).json()
    assert first["result"] in ("scaled", "clamped")
    held = post(receiver["url"], content=b"not an alert")
    assert held.status_code == 200
    assert held.json()["result"] == "cooldown"
    assert held.json()["after"] == first["after"]
    assert "next may run in" in held.json()["message"]


def test_paused_and_dry_run_change_nothing(make_server: ServerFactory) -> None:
    server = make_server({"services": {"web": web_service()}})
    created = server.client.post(
        "/v1/receivers",
        json={
            "name": "quiet",
            "driver": "scaleService",
            "config": {"service": "web", "action": "up", "max": 5},
            "paused": True,
        },
    ).json()
    assert (created["paused"], created["dry_run"]) == (True, False)
    firing = notification(am_alert("HighLoad"))
    for body in (None, firing):
        paused = post(created["url"], body)
        assert paused.status_code == 200
        assert (paused.json()["result"], paused.json()["target"]) == ("paused", "local/web")
    assert post(created["url"], {**firing, "version": "5"}).status_code == 400

    changed = server.client.patch("/v1/receivers/quiet", json={"paused": False, "dry_run": True})
    assert (changed.json()["paused"], changed.json()["dry_run"]) == (False, True)
    dry = post(created["url"], firing).json()
    assert (dry["result"], dry["before"], dry["after"]) == ("dry_run", 1, 2)
    assert dry["details"]["dry_run"] is True
    assert dry["details"]["would"] == "scaled"
    assert dry["message"].startswith("dry run, nothing changed: ")
    assert post(created["url"], firing).json()["result"] == "deduped"  # as it would be
    assert post(created["url"]).json()["result"] == "dry_run"
    assert server.service("web")["desired"] == 1

    server.client.patch("/v1/receivers/quiet", json={"dry_run": False})
    live = post(created["url"], firing).json()  # dry-run memory is not the live one
    assert (live["result"], live["after"]) == ("scaled", 2)
    assert server.service("web")["desired"] == 2


def test_label_match_groups_and_per_alert(web_server: ServerProcess) -> None:
    start = web_server.service("web")["desired"]
    grouped = web_server.create_receiver(
        "grouped", service="web", action="up", max=100, match="severity=page"
    )
    assert grouped["config"]["match"] == {"severity": "page"}
    miss = post(grouped["url"], notification(am_alert("A", severity="info"))).json()
    assert (miss["result"], miss["after"]) == ("label_mismatch", start)
    group = notification(*(am_alert(n, severity="page") for n in ("B", "C", "D")))
    assert post(grouped["url"], group).json()["after"] == start + 1

    each = web_server.create_receiver("each", service="web", action="up", max=100, per_alert=True)
    assert post(each["url"], group).json()["after"] == start + 4


def test_duplicate_notifications_at_once_act_once(make_server: ServerFactory) -> None:
    """An Alertmanager HA pair may deliver one notification twice at the same moment."""
    server = make_server({"services": {"web": web_service()}})
    receiver = server.create_receiver("ha", service="web", action="up", max=10)
    body = notification(am_alert("HighLoad"), am_alert("Other"))
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = [
            r.json()["result"] for r in pool.map(lambda _: post(receiver["url"], body), range(8))
        ]
    assert sorted(results) == ["deduped"] * 7 + ["scaled"]
    assert server.service("web")["desired"] == 2


def test_rate_limited_alertmanager_is_asked_to_retry(make_server: ServerFactory) -> None:
    server = make_server({"services": {"web": web_service()}, "hooks": {"rate": 0.01, "burst": 1}})
    receiver = server.create_receiver("limited", service="web", action="up", max=10)
    assert post(receiver["url"], notification(am_alert("A"))).status_code == 200
    retry = post(receiver["url"], notification(am_alert("A")))
    assert retry.status_code == 503  # Alertmanager retries 5xx only
    assert int(retry.headers["retry-after"]) >= 1
    assert retry.json()["error"] == "rate_limited"
    assert post(receiver["url"]).status_code == 429  # anyone else: the usual answer


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"on_resolved": "up"}, "config"),
        ({"on_resolved": "sideways"}, "config.on_resolved"),
        ({"on_firing": "down", "on_resolved": "down"}, "config"),
        ({"cooldown": {"up": "-1s"}}, "config.cooldown.up"),
        ({"cooldown": "soon"}, "config.cooldown.up"),
        ({"cooldown": {"left": "1s"}}, "config.cooldown.left"),
        ({"match": "=x"}, "selector"),
        ({"match": {"a": 1}}, "config.match.a"),
        ({"dedupe": "maybe"}, "config.dedupe"),
    ],
)
def test_bad_alert_options_get_422(
    web_server: ServerProcess, config: dict[str, Any], field: str
) -> None:
    response = web_server.client.post(
        "/v1/receivers",
        json={
            "name": "bad-options",
            "driver": "scaleService",
            "config": {"service": "web", "action": "up", **config},
        },
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


def test_stored_config_keeps_only_chosen_alert_options(web_server: ServerProcess) -> None:
    created = web_server.create_receiver(
        "chosen", service="web", action="up", on_resolved="down", cooldown="30s"
    )
    assert created["config"] == {
        "service": "web",
        "action": "up",
        "amount": 1,
        "min": 1,
        "max": 100,
        "on_resolved": "down",
        "cooldown": {"up": 30.0, "down": 30.0},
    }
    patched = web_server.client.patch(
        "/v1/receivers/chosen", json={"config": {"dedupe": False, "on_resolved": "none"}}
    ).json()
    assert patched["config"]["dedupe"] is False
    assert "on_resolved" not in patched["config"]


def test_a_refused_action_is_not_remembered(make_server: ServerFactory) -> None:
    """A trigger whose service has gone from scalehook.yaml fails (404: no retry helps),
    nothing is remembered, and once the service is back a re-send of the same incident
    is decided again, not deduped. (A step past the local backend's capacity is clamped,
    not refused: tests/local/test_capacity.py.)"""
    server = make_server({"services": {"web": web_service(), "api": web_service()}})
    receiver = server.create_receiver("huge", service="api", action="up", amount=2, max=10)
    body = notification(am_alert("HighLoad"))
    server.stop()
    api = server.config["services"].pop("api")
    server.start()
    for _ in range(2):
        refused = post(receiver["url"], body)
        assert refused.status_code == 404  # will never work as configured: no retry
        assert "api" in refused.json()["message"]
        assert refused.json()["execution_id"]
    assert [e["result"] for e in executions(server, "huge")] == ["failed", "failed"]
    server.stop()
    server.config["services"]["api"] = api
    server.start()
    assert post(receiver["url"], body).json()["result"] == "scaled"
    assert server.service("api")["desired"] == 3
