"""A CPU policy on the local backend, end to end: real replicas that spend CPU per
request, a load generator in the test, a real ``scalehook serve``. Under load the
service scales up; once the load stops it scales back down after the window."""

from __future__ import annotations

from pathlib import Path

from scalehook.testing import ServerProcess, wait_until
from tests.policies.conftest import (
    Load,
    burn_service,
    cpu,
    desired,
    policy,
    policy_executions,
    scaled_by,
)


def test_a_cpu_policy_scales_up_under_load_and_down_after_the_window(tmp_path: Path) -> None:
    service = burn_service()
    with ServerProcess(tmp_path / "cpu", {"services": {"burn": service}}) as server:
        body = policy(
            "burn-cpu",
            "burn",
            cpu(target=10),  # low: this machine's 2 cores are shared with other work
            min=1,
            max=4,
            cpu_initialization="5s",
            behavior={"down": {"stabilization": "3s"}},
        )
        assert server.client.post("/v1/policies", json=body).status_code == 201
        url = f"http://127.0.0.1:{service['port']}/work?ms=40"
        with Load(url, workers=2, think=0.0) as load:
            wait_until(lambda: desired(server, "burn") >= 2, timeout=90, what="a scale-up")
            up = scaled_by(server, "burn-cpu")
            assert up and up[-1]["after"] > up[-1]["before"] == 1
            details = up[-1]["details"]
            (metric,) = details["metrics"]
            assert metric["name"] == "cpu" and metric["value"] > 10
            assert details["winner"] == "cpu" and details["desired"] == up[-1]["after"]
            peak = desired(server, "burn")
        assert load.answers.get(200, 0) > 0
        assert set(load.answers) == {200}, load.answers  # every request answered
        wait_until(lambda: desired(server, "burn") == 1, timeout=90, what="back down to 1")
        down = scaled_by(server, "burn-cpu", lambda e: e["after"] < e["before"])
        assert down[0]["after"] >= 1 and peak >= 2
        trail = policy_executions(server, "burn-cpu")
        assert all(e["driver"] == "policy" and e["target"] == "local/burn" for e in trail)
