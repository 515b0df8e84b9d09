"""Scale to zero and back on the local backend, end to end: a policy with min 0 on the
balancer's connections takes an idle service to zero; the next request is held by the
balancer while one replica starts, and gets its answer (not a 502, not a closed
connection); a replica that never gets ready lets go of it after ``wake_timeout``."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from scalehook.testing import ServerProcess, wait_until
from tests.policies.conftest import app_service, connections, desired, policy, policy_executions


def test_an_idle_service_goes_to_zero_and_the_next_request_wakes_it(tmp_path: Path) -> None:
    web = app_service()
    never = {**app_service(), "command": ["sleep", "3600"], "readiness": {"tcp": True},
             "wake_timeout": "1s"}  # fmt: skip
    with ServerProcess(tmp_path / "zero", {"services": {"web": web, "never": never}}) as server:
        body = policy(
            "web-idle",
            "web",
            connections(target=10),
            min=0,
            max=3,
            behavior={"down": {"stabilization": "2s"}},
        )
        assert server.client.post("/v1/policies", json=body).status_code == 201
        wait_until(lambda: desired(server, "web") == 0, timeout=60, what="scaled to zero")
        server.wait_for("web", running=0)

        answer = httpx.get(f"http://127.0.0.1:{web['port']}/", timeout=60)
        assert answer.status_code == 200 and answer.text.startswith("hello from web-1")
        woken = [e for e in policy_executions(server, "web-idle") if e["details"].get("woken")]
        assert [(e["result"], e["before"], e["after"]) for e in woken] == [("scaled", 0, 1)]
        assert "woken by a connection" in woken[0]["message"]
        assert woken[0]["driver"] == "policy" and woken[0]["receiver_name"] == "web-idle"

        wait_until(lambda: desired(server, "web") == 0, timeout=60, what="idle again: zero")

        server.client.post("/v1/services/never/scale", json={"replicas": 0})
        wake = policy("never-idle", "never", connections(target=10), min=0, max=1)
        assert server.client.post("/v1/policies", json=wake).status_code == 201
        wait_until(lambda: server.client.get("/v1/policies/never-idle").json()["evaluations"])
        with pytest.raises(httpx.TransportError) as closed:  # closed after wake_timeout
            httpx.get(f"http://127.0.0.1:{never['port']}/", timeout=30)
        assert not isinstance(closed.value, httpx.TimeoutException)
        assert desired(server, "never") == 1  # it was woken; its replica is not ready
