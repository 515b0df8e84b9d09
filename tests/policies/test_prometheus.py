"""Policies on real Prometheus queries: the example's load_exporter.py is the metric,
a real Prometheus scrapes it, a real ``scalehook serve`` queries it. A value scales the
service to ceil(value / target); a query that returns nothing, or a Prometheus that is
stopped, holds the count (never the minimum); a query Prometheus rejects is refused at
create, naming the field."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from scalehook.testing import ServerProcess, wait_until
from scalehook.testing_alerts import LoadExporter, PrometheusServer
from tests.policies.conftest import (
    LOAD_EXPORTER,
    app_service,
    desired,
    evaluations,
    policy,
    policy_executions,
    query,
    scaled_by,
    wait_evaluations,
)


@dataclass
class Stack:
    server: ServerProcess
    prometheus: PrometheusServer
    exporter: LoadExporter


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("policies-prometheus")
    exporter = LoadExporter(LOAD_EXPORTER)
    prometheus = PrometheusServer(
        workdir / "prometheus", targets={"app": f"127.0.0.1:{exporter.port}"}
    )
    try:
        prometheus.start()
        wait_until(lambda: prometheus.query("app_load"), what="app_load scraped")
        config = {
            "prometheus": {"url": prometheus.url, "timeout": "2s"},
            "services": {"web": app_service(), "jobs": app_service(), "empty": app_service()},
        }
        with ServerProcess(workdir / "scalehook", config) as server:
            yield Stack(server, prometheus, exporter)
    finally:
        prometheus.stop()
        exporter.close()


def test_a_query_rejected_by_prometheus_is_refused_naming_the_field(stack: Stack) -> None:
    body = policy("broken", "web", query("app_load", 1, name="ok"), query("sum(app_load", 1))
    answer = stack.server.client.post("/v1/policies", json=body)
    assert answer.status_code == 422, answer.text
    error = answer.json()
    assert error["field"] == "metrics[1].query"
    assert "bad_data" in error["message"] and "metrics[1].query" in error["message"]


def test_the_value_scales_to_ceil_value_over_target_and_a_stop_holds(stack: Stack) -> None:
    server = stack.server
    stack.exporter.set(1.0)
    wait_until(
        lambda: [r for r in stack.prometheus.query("app_load") if r["value"][1] == "1"],
        what="Prometheus has the new value",
    )
    body = policy(
        "load",
        "web",
        query("max(app_load)", 0.25, name="load"),
        min=1,
        max=6,
        behavior={"down": {"stabilization": "2s"}},
    )
    answer = server.client.post("/v1/policies", json=body)
    assert answer.status_code == 201 and answer.json()["warnings"] == [], answer.text
    wait_until(lambda: desired(server, "web") == 4, timeout=60, what="ceil(1.0 / 0.25) = 4")
    (scaled,) = scaled_by(server, "load")
    assert (scaled["before"], scaled["after"]) == (1, 4)
    (metric,) = scaled["details"]["metrics"]
    assert (metric["name"], metric["value"], metric["candidate"]) == ("load", 1.0, 4)

    stack.exporter.set(0.5)
    wait_until(lambda: desired(server, "web") == 2, timeout=60, what="ceil(0.5 / 0.25) = 2")

    stack.prometheus.stop()
    try:
        before = len(evaluations(server, "load"))
        found = wait_evaluations(server, "load", before + 4, what="evaluations while it is down")
        failed = [e for e in found[:3] if e["metrics"][0]["error"]]
        assert len(failed) == 3, found[:3]
        assert "cannot be reached" in failed[0]["metrics"][0]["error"]
        assert all(e["desired"] == e["current"] == 2 for e in failed)
        assert desired(server, "web") == 2  # held, not the minimum
    finally:
        stack.prometheus.start()
    wait_until(
        lambda: (e := evaluations(server, "load")) and e[0]["metrics"][0]["error"] is None,
        timeout=60,
        what="read again once Prometheus is back",
    )


def test_a_query_that_returns_nothing_holds_the_count(stack: Stack) -> None:
    server = stack.server
    assert server.client.post("/v1/services/empty/scale", json={"replicas": 3}).status_code == 200
    body = policy(
        "nothing",
        "empty",
        query('sum(app_load{job="no-such-job"})', 1, name="gone"),
        min=1,
        max=5,
        behavior={"down": {"stabilization": "1s"}},
    )
    answer = server.client.post("/v1/policies", json=body)
    assert answer.status_code == 201, answer.text
    (warning,) = answer.json()["warnings"]
    assert "no series" in warning
    found = wait_evaluations(server, "nothing", 5)
    assert all("no series" in (e["metrics"][0]["error"] or "") for e in found), found
    assert all(e["desired"] == e["current"] == 3 for e in found)
    assert desired(server, "empty") == 3
    assert [e for e in policy_executions(server, "nothing") if e["result"] == "scaled"] == []
