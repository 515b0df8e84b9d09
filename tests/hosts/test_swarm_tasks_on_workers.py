"""What the swarm backend can and cannot do for a task on another node than the manager
it talks to, on a real multi-node Swarm (a netns worker joined to the lab's manager)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from scalehook.backends.swarm import SwarmBackend, SwarmSettings
from scalehook.errors import NotRecreatable
from scalehook.testing import ServerProcess, wait_until
from tests.hosts.lab import IMAGE, SwarmLab

T = TypeVar("T")


def on_swarm(lab: SwarmLab, call: Callable[[SwarmBackend], Awaitable[T]]) -> T:
    """One call of a swarm backend on the lab's manager (the lab's own helpers block)."""

    async def run() -> T:
        backend = SwarmBackend("swarm", SwarmSettings(docker_host=lab.docker_host))
        await backend.start()
        try:
            return await call(backend)
        finally:
            await backend.close()

    return asyncio.run(run())


def test_a_task_on_a_worker_is_not_recreated_and_has_no_usage_figures(
    host_server: ServerProcess, lab: SwarmLab
) -> None:
    response = host_server.client.post(
        "/v1/hosts", json={"provider": "netns", "labels": {"group": "edge"}}, timeout=300
    )
    assert response.status_code == 201, response.text
    worker = response.json()["name"]
    lab.docker(
        "service", "create", "-q", "--name", "far", "--replicas", "1",
        "--constraint", "node.role==worker", "--network", "host",
        "--limit-cpu", "0.5", "--limit-memory", "32m", "--stop-grace-period", "1s",
        IMAGE, "sleep", "3600",
    )  # fmt: skip
    try:
        wait_until(
            lambda: any(t["Status"]["State"] == "running" for t in lab.tasks("far")),
            timeout=120,
            what="the task running on the worker",
        )
        before = [t["ID"] for t in lab.tasks("far")]

        with pytest.raises(NotRecreatable, match=f"runs on node {worker}"):
            on_swarm(lab, lambda swarm: swarm.recreate(service="far", replica="far.1"))
        assert [t["ID"] for t in lab.tasks("far")] == before  # nothing was touched

        (sample,) = on_swarm(lab, lambda swarm: swarm.samples(service="far"))
        assert (sample.replica, sample.ready) == ("far.1", True)
        assert (sample.cpu_limit, sample.memory_limit) == (0.5, 32 * 1024 * 1024)  # the spec's
        # the manager's engine cannot read another node's container: unknown, not 0
        assert (sample.cpu_percent, sample.memory_bytes, sample.started_at) == (None, None, None)
        assert sample.ready_since is not None
    finally:
        lab.docker("service", "rm", "far", check=False)
