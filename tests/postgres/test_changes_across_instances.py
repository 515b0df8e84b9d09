"""What one instance changes, every other sees at once: receivers rotated, disabled,
reconfigured or deleted, and the alert memory, so that an Alertmanager HA pair sending
one notification to two instances acts once."""

from __future__ import annotations

import concurrent.futures
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from scalehook.backends.docker.groups import SERVICE_LABEL
from scalehook.testing import ServerProcess, wait_until
from scalehook.testing_alerts import AlertStack, LoadExporter, example_configs
from tests.alerts.notifications import USER_AGENT, am_alert, notification
from tests.docker.conftest import WEB_IMAGE
from tests.docker.engine import TEST_LABEL, Engine
from tests.postgres.test_storm_across_instances import spread

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("images")]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "alertmanager"


def web(engine: Engine, prefix: str) -> str:
    service = f"{prefix}-web"
    engine.run(f"{prefix}-first", WEB_IMAGE, labels={SERVICE_LABEL: service, TEST_LABEL: prefix})
    return service


def status(url: str, body: dict[str, Any] | None = None) -> int:
    if body is None:
        return httpx.post(url, timeout=30).status_code
    return httpx.post(url, json=body, headers=USER_AGENT, timeout=30).status_code


def test_a_receiver_changed_on_one_instance_answers_so_on_the_other_at_once(
    instances: Any, engine: Engine, prefix: str
) -> None:
    service = web(engine, prefix)
    a, b = instances({"backend": "docker"}).start()
    a.wait_for(service, desired=1)
    made = a.create_receiver("r", service=service, action="up", amount=1, max=1)
    (on_b,) = spread(made["url"], [b])
    assert status(on_b) == 200  # a noop at max, answered by b

    rotated = a.client.post(f"/v1/receivers/{made['id']}/rotate").json()
    assert status(on_b) == 404  # the very next call: no cache on PostgreSQL
    new_b = spread(rotated["url"], [b])[0]
    assert status(new_b) == 200

    assert a.client.patch(f"/v1/receivers/{made['id']}", json={"enabled": False}).is_success
    assert status(new_b) == 404
    assert a.client.patch(f"/v1/receivers/{made['id']}", json={"enabled": True}).is_success
    assert status(new_b) == 200

    config = {**rotated["config"], "max": 2}
    assert a.client.patch(f"/v1/receivers/{made['id']}", json={"config": config}).is_success
    scaled = httpx.post(new_b, timeout=60).json()
    assert (scaled["result"], scaled["before"], scaled["after"]) == ("scaled", 1, 2)

    assert a.client.delete(f"/v1/receivers/{made['id']}").status_code == 204
    assert status(new_b) == 404
    assert b.client.get(f"/v1/receivers/{made['id']}").status_code == 404


def test_one_notification_sent_to_both_instances_many_times_at_once_acts_once(
    instances: Any, engine: Engine, prefix: str
) -> None:
    """An Alertmanager HA pair whose gossip lags sends the same notification from both
    peers: here twenty copies at once, half to each instance."""
    service = web(engine, prefix)
    a, b = instances({"backend": "docker"}).start()
    a.wait_for(service, desired=1)
    made = a.create_receiver("am", service=service, action="up", max=5, on_resolved="down")
    urls = spread(made["url"], [a, b])
    firing = notification(am_alert("HighLoad", severity="page"))

    def send(n: int) -> dict[str, Any]:
        answer = httpx.post(urls[n % 2], json=firing, headers=USER_AGENT, timeout=60)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(send, range(20)))
    results = sorted(r["result"] for r in answers)
    assert results == ["deduped"] * 19 + ["scaled"]
    b.wait_for(service, desired=2)

    resolved = notification(am_alert("HighLoad", "resolved", severity="page"))
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        downs = list(pool.map(lambda n: httpx.post(urls[n % 2], json=resolved,
                                                   headers=USER_AGENT, timeout=60).json(),
                              range(20)))  # fmt: skip
    moves = [(d["before"], d["after"]) for d in downs if d["result"] == "scaled"]
    assert moves == [(2, 1)]  # undone once, whichever instance got it first
    a.wait_for(service, desired=1)


def test_a_real_alertmanager_sending_to_two_instances_scales_once(
    instances: Any, engine: Engine, prefix: str, tmp_path: Path
) -> None:
    """Real Prometheus and Alertmanager, the shipped example configs made fast, with
    the webhook sent to both instances (each notification reaches both, as from an
    HA pair): one scale-up, then the re-sends are deduped on both."""
    service = web(engine, prefix)
    a, b = instances({"backend": "docker"}).start()
    a.wait_for(service, desired=1)
    made = a.create_receiver("am", service=service, action="up", max=5)
    exporter = LoadExporter(EXAMPLE / "load_exporter.py")
    stack: AlertStack | None = None
    try:
        prometheus, rules, alertmanager = example_configs(
            EXAMPLE,
            targets={"web": f"127.0.0.1:{exporter.port}", "scalehook": f"127.0.0.1:{a.port}"},
            urls=spread(made["url"], [a, b]),
        )
        stack = AlertStack(
            tmp_path / "stack", prometheus=prometheus, rules=rules, alertmanager=alertmanager
        ).start()
        exporter.set(0.95)

        def trail() -> list[dict[str, Any]]:
            rows: list[dict[str, Any]] = b.client.get(
                "/v1/executions", params={"receiver": "am", "limit": 1000}
            ).json()
            return rows

        def resent() -> bool:
            deduped = sum(1 for e in trail() if e["result"] == "deduped")
            return deduped >= 3 and triggers(a) > 0 and triggers(b) > 0

        wait_until(resent, timeout=120, what="the alert fires and is sent to both, again")
        scaled = [e for e in trail() if e["result"] == "scaled"]
        assert [(e["before"], e["after"]) for e in scaled] == [(1, 2)]
        assert {e["result"] for e in trail()} == {"scaled", "deduped"}
        assert a.service(service)["desired"] == 2
    finally:
        if stack is not None:
            stack.stop()
        exporter.close()


def triggers(server: ServerProcess) -> float:
    """How many triggers of the receiver ``am`` this instance answered (its /metrics)."""
    total = 0.0
    for line in httpx.get(f"{server.url}/metrics", timeout=10).text.splitlines():
        match = re.match(r"^scalehook_triggers_total\{(.*)\} (\S+)$", line)
        if match and 'receiver="am"' in match.group(1):
            total += float(match.group(2))
    return total
