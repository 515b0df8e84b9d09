"""The alert flow with the real programs: Prometheus rule → Alertmanager → scalehook.

The configs are the shipped examples (examples/alertmanager/), with short intervals
and loopback ports filled in; the metric is the example's load_exporter.py, which the
test drives. Every wait polls with a deadline; no assertion is about time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from scalehook.testing import ServerProcess
from scalehook.testing_alerts import AlertStack, LoadExporter, example_configs
from tests.conftest import web_service

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "alertmanager"
GROUP_WAIT = "1s"


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """scalehook with three services, four receivers, and the stack pointed at them."""
    workdir = tmp_path_factory.mktemp("alert-flow")
    server = ServerProcess(
        workdir / "scalehook",
        {"services": {name: web_service() for name in ("web", "cool", "dry")}},
    )
    server.start()
    exporter = LoadExporter(EXAMPLE / "load_exporter.py")
    stack: AlertStack | None = None
    try:
        receivers = {
            "scale": server.create_receiver(
                "scale", service="web", action="up", max=5, on_resolved="down"
            ),
            "cool": server.create_receiver(
                "cool", service="cool", action="up", max=5, dedupe=False, cooldown={"up": "1h"}
            ),
            "other": server.create_receiver(
                "other", service="web", action="up", max=5, match={"severity": "info"}
            ),
        }
        dry = server.client.post(
            "/v1/receivers",
            json={
                "name": "dry",
                "driver": "scaleService",
                "config": {"service": "dry", "action": "up", "max": 5, "on_resolved": "down"},
                "dry_run": True,
            },
        )
        receivers["dry"] = dry.json()
        configs = example_configs(
            EXAMPLE,
            targets={"web": f"127.0.0.1:{exporter.port}", "scalehook": f"127.0.0.1:{server.port}"},
            urls=[r["url"] for r in receivers.values()],
            group_wait=GROUP_WAIT,
        )
        stack = AlertStack(
            workdir / "stack", prometheus=configs[0], rules=configs[1], alertmanager=configs[2]
        ).start()
        yield {"server": server, "exporter": exporter, "stack": stack}
    finally:
        if stack is not None:
            stack.stop()
        exporter.close()
        server.close()


def results(server: ServerProcess, receiver: str) -> list[dict[str, Any]]:
    """The receiver's executions, oldest first."""
    rows: list[dict[str, Any]] = server.client.get(
        "/v1/executions", params={"receiver": receiver, "limit": 1000}
    ).json()
    return rows[::-1]


def wait_until(
    what: str, predicate: Callable[[], bool], flow: dict[str, Any], timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    server: ServerProcess = flow["server"]
    trail = {name: results(server, name) for name in ("scale", "cool", "dry", "other")}
    raise AssertionError(f"{what}: not in {timeout}s\n{trail}\n{flow['stack'].logs()}")


def count(server: ServerProcess, receiver: str, result: str) -> int:
    return sum(1 for e in results(server, receiver) if e["result"] == result)


def test_an_alert_scales_up_once_then_back_down_when_it_resolves(flow: dict[str, Any]) -> None:
    server: ServerProcess = flow["server"]
    stack: AlertStack = flow["stack"]
    assert stack.firing() == []
    flow["exporter"].set(0.95)

    wait_until("the rule fires", lambda: len(stack.firing()) == 1, flow)
    wait_until("scale acts", lambda: count(server, "scale", "scaled") == 1, flow)
    # Alertmanager re-sends the same group every repeat_interval: scalehook dedupes.
    wait_until("re-sends are deduped", lambda: count(server, "scale", "deduped") >= 2, flow)
    wait_until("re-sends meet the cooldown", lambda: count(server, "cool", "cooldown") >= 2, flow)
    wait_until("dry run deduped too", lambda: count(server, "dry", "deduped") >= 1, flow)
    wait_until("labels do not match", lambda: count(server, "other", "label_mismatch") >= 1, flow)
    assert server.wait_for("web", desired=2, ready=2)["desired"] == 2
    assert server.service("cool")["desired"] == 2  # one action, the re-sends held back
    assert server.service("dry")["desired"] == 1  # dry run: recorded, not done

    scaled = [e for e in results(server, "scale") if e["result"] == "scaled"]
    assert [(e["before"], e["after"]) for e in scaled] == [(1, 2)]
    alert = scaled[0]["details"]["alerts"][0]
    assert (alert["alertname"], alert["status"], alert["reason"]) == (
        "WebHighLoad",
        "firing",
        "acted",
    )
    assert [e["result"] for e in results(server, "cool")].count("scaled") == 1
    dry = results(server, "dry")
    assert (dry[0]["result"], dry[0]["before"], dry[0]["after"]) == ("dry_run", 1, 2)

    flow["exporter"].set(0.1)
    wait_until(
        "the resolve scales back down",
        lambda: count(server, "scale", "scaled") == 2,
        flow,
    )
    server.wait_for("web", desired=1, ready=1)
    trail = results(server, "scale")
    moves = [(e["before"], e["after"]) for e in trail if e["result"] == "scaled"]
    assert moves == [(1, 2), (2, 1)]
    assert {e["result"] for e in trail} == {"scaled", "deduped"}
    down = next(e for e in trail if e["result"] == "scaled" and e["after"] == 1)
    assert down["details"]["alerts"][0]["status"] == "resolved"
    wait_until(
        "cool ignores the resolve",
        lambda: any(e["result"] == "ignored" for e in results(server, "cool")),
        flow,
    )
    assert server.service("cool")["desired"] == 2  # on_resolved: none
    assert server.service("dry")["desired"] == 1
    assert stack.firing() == []
