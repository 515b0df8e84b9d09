"""Revisions, rollback and upgrade by hand, and rollout control (pause, resume, cancel,
roll back) on ``backend: docker``: real containers; each version is asked of the
container itself, over HTTP from inside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scalehook.testing import ServerProcess, wait_until
from tests.docker.apps import APP, version_of
from tests.docker.engine import Engine
from tests.docker.test_docker_upgrades import rows, run_app, versions
from tests.upgrades.helpers import (
    VersionSampler,
    ask,
    by_hand,
    execution,
    finished,
    holding,
    rollout,
    rollout_of,
)

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("apps")]


def container_versions(engine: Engine, service: str) -> dict[str, str]:
    """container name → the version it answers, for every running container."""
    return {
        r["Names"][0]: version_of(engine, r["Id"])
        for r in rows(engine, service)
        if r["State"] == "running"
    }


def after_first_batch(server: ServerProcess, started: dict[str, Any]) -> None:
    wait_until(
        lambda: len(execution(server, started["id"])["details"]["batches"]) >= 1,
        timeout=90,
        what="the first batch done",
    )


def test_upgrade_and_rollback_by_hand_with_revisions(
    engine: Engine, prefix: str, docker_server: ServerProcess
) -> None:
    service = run_app(engine, prefix, 2)
    docker_server.wait_for(service, ready=2)
    up = finished(
        docker_server, by_hand(docker_server, service, "upgrade", {"image": f"{APP}:2"})["id"]
    )
    assert up["result"] == "upgraded", up["message"]
    assert (up["driver"], up["details"]["revision"]) == ("api", 2)
    assert versions(engine, service) == ["2", "2"]
    broken = by_hand(docker_server, service, "upgrade", {"image": f"{APP}:3"})
    assert finished(docker_server, broken["id"])["result"] == "rolled_back"
    assert versions(engine, service) == ["2", "2"]

    back = by_hand(docker_server, service, "rollback", {})
    assert back["details"]["rollback"] == {"revision": 1, "image": f"{APP}:1"}
    done = finished(docker_server, back["id"])
    assert done["result"] == "upgraded", done["message"]
    assert versions(engine, service) == ["1", "1"]
    assert docker_server.service(service)["image"] == f"{APP}:1"
    found = docker_server.client.get(f"/v1/services/{service}/revisions").json()
    assert [(r["number"], r["image"], r["outcome"], r["rollback_of"]) for r in found] == [
        (1, f"{APP}:1", "initial", None),
        (2, f"{APP}:2", "upgraded", None),
        (3, f"{APP}:3", "rolled_back", None),
        (4, f"{APP}:1", "upgraded", 1),
    ]
    again = finished(
        docker_server, by_hand(docker_server, service, "rollback", {"revision": 2})["id"]
    )
    assert again["result"] == "upgraded", again["message"]
    assert versions(engine, service) == ["2", "2"]


def test_pause_holds_between_batches_then_resume_finishes(
    engine: Engine, prefix: str, docker_server: ServerProcess
) -> None:
    service = run_app(engine, prefix, 3)
    docker_server.wait_for(service, ready=3)
    started = by_hand(
        docker_server,
        service,
        "upgrade",
        {"image": f"{APP}:2", "strategy": {"batch_interval": "3s"}},
    )
    ident = rollout_of(docker_server, started)
    after_first_batch(docker_server, started)
    ask(docker_server, ident, "pause")
    held = holding(docker_server, ident)
    assert held["holding"] == "before batch 2/3"
    with VersionSampler(lambda: container_versions(engine, service)) as sampler:
        sampler.wait(15)
    assert all(s == sampler.samples[0] for s in sampler.samples), sampler.samples
    assert sorted(sampler.samples[0].values()) == ["1", "1", "2"]
    ask(docker_server, ident, "resume")
    done = finished(docker_server, started["id"])
    assert done["result"] == "upgraded", done["message"]
    assert versions(engine, service) == ["2", "2", "2"]


def test_cancel_mid_rollout_leaves_each_container_on_one_version(
    engine: Engine, prefix: str, docker_server: ServerProcess
) -> None:
    service = run_app(engine, prefix, 3)
    docker_server.wait_for(service, ready=3)
    started = by_hand(
        docker_server,
        service,
        "upgrade",
        {"image": f"{APP}:2", "strategy": {"batch_interval": "3s"}},
    )
    ident = rollout_of(docker_server, started)
    after_first_batch(docker_server, started)
    ask(docker_server, ident, "cancel", status=202)
    done = finished(docker_server, started["id"])
    assert done["result"] == "cancelled", done["message"]
    assert (
        f"cancelled by hand: 1 of 3 replica(s) run {APP}:2, the others {APP}:1" in done["message"]
    )
    assert versions(engine, service) == ["1", "1", "2"]
    assert len(rows(engine, service)) == 3
    assert rollout(docker_server, ident)["state"] == "cancelled"


def test_rollback_mid_rollout_turns_it_around(
    engine: Engine, prefix: str, docker_server: ServerProcess
) -> None:
    service = run_app(engine, prefix, 3)
    docker_server.wait_for(service, ready=3)
    started = by_hand(
        docker_server,
        service,
        "upgrade",
        {"image": f"{APP}:2", "strategy": {"batch_interval": "3s"}},
    )
    ident = rollout_of(docker_server, started)
    after_first_batch(docker_server, started)
    ask(docker_server, ident, "rollback", status=202)
    done = finished(docker_server, started["id"])
    assert done["result"] == "rolled_back", done["message"]
    assert f"rolled back to {APP}:1: asked by hand" in done["message"]
    assert versions(engine, service) == ["1", "1", "1"]
    assert docker_server.service(service)["image"] == f"{APP}:1"


def test_a_pause_is_kept_across_a_kill_9_of_scalehook(
    engine: Engine, prefix: str, tmp_path: Path
) -> None:
    server = ServerProcess(tmp_path / "server", {"backend": "docker"}).start()
    try:
        service = run_app(engine, prefix, 3)
        server.wait_for(service, ready=3)
        started = by_hand(
            server, service, "upgrade", {"image": f"{APP}:2", "strategy": {"batch_interval": "3s"}}
        )
        ident = rollout_of(server, started)
        after_first_batch(server, started)
        ask(server, ident, "pause")
        holding(server, ident)
        server.kill()

        server.start()
        held = holding(server, ident)  # the containers outlived it: two are left to roll
        assert held["holding"] == "before batch 1/2"
        with VersionSampler(lambda: container_versions(engine, service)) as sampler:
            sampler.wait(15)
        assert all(sorted(s.values()) == ["1", "1", "2"] for s in sampler.samples)
        ask(server, ident, "resume")
        done = finished(server, started["id"])
        assert done["result"] == "upgraded", done["message"]
        assert done["message"].endswith("(resumed after scalehook restarted)")
        assert versions(engine, service) == ["2", "2", "2"]
    finally:
        server.close()
