"""Revisions, rollback and upgrade by hand, and rollout control on ``backend: swarm``:
real services on this machine's Swarm. Each version is asked of the task's container;
the spec and ``UpdateStatus`` are read from the engine.

Swarm has no pause for an update in progress; scalehook's pause sets the update delay
to 30 days (``backends/swarm/update.py``), so a paused update is judged by what its
tasks answer while it holds.
"""

from __future__ import annotations

from typing import Any

import pytest

from scalehook.backends.swarm.update import HOLD
from scalehook.testing import ServerProcess, wait_until
from tests.docker.apps import APP, version_of
from tests.docker.engine import Engine
from tests.docker.test_swarm_upgrades import SECOND, counts, create_app, versions
from tests.upgrades.helpers import (
    VersionSampler,
    ask,
    by_hand,
    execution,
    finished,
    holding,
    rollout_of,
)

pytestmark = [pytest.mark.docker, pytest.mark.swarm, pytest.mark.usefixtures("apps")]


def task_versions(engine: Engine, name: str) -> dict[str, str]:
    """slot → the version its running task answers."""
    return {
        str(t["Slot"]): version_of(engine, t["Status"]["ContainerStatus"]["ContainerID"])
        for t in engine.tasks(name)
        if t["Status"]["State"] == "running"
    }


def slow_upgrade(server: ServerProcess, name: str, tag: str = "2") -> tuple[dict[str, Any], int]:
    started = by_hand(
        server, name, "upgrade", {"image": f"{APP}:{tag}", "strategy": {"batch_interval": "3s"}}
    )
    wait_until(
        lambda: len(execution(server, started["id"])["details"]["batches"]) >= 1,
        timeout=120,
        what="the first task updated",
    )
    return started, rollout_of(server, started)


def settled(engine: Engine, name: str, replicas: int) -> list[str]:
    wait_until(
        lambda: (
            counts(engine, name) == (replicas, replicas) and len(engine.tasks(name)) == replicas
        ),
        timeout=120,
        what=f"{replicas} tasks of {name} running",
    )
    return versions(engine, name)


def test_upgrade_and_rollback_by_hand_on_swarm(
    engine: Engine, prefix: str, overlay: str, swarm_server: ServerProcess
) -> None:
    name = create_app(engine, prefix, overlay, 2)
    up = finished(
        swarm_server,
        by_hand(swarm_server, name, "upgrade", {"image": f"{APP}:2"})["id"],
        timeout=120,
    )
    assert up["result"] == "upgraded", up["message"]
    assert versions(engine, name) == ["2", "2"]
    back = finished(swarm_server, by_hand(swarm_server, name, "rollback", {})["id"], timeout=120)
    assert back["result"] == "upgraded", back["message"]
    assert back["message"] == f"swarm/{name}: back on revision 1: 2 task(s) run {APP}:1"
    assert engine.service(name)["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == f"{APP}:1"
    assert settled(engine, name, 2) == ["1", "1"]
    found = swarm_server.client.get(f"/v1/services/{name}/revisions").json()
    assert [(r["number"], r["image"], r["outcome"], r["rollback_of"]) for r in found] == [
        (1, f"{APP}:1", "initial", None),
        (2, f"{APP}:2", "upgraded", None),
        (3, f"{APP}:1", "upgraded", 1),
    ]


def test_pause_holds_the_swarm_update_and_resume_lets_it_finish(
    engine: Engine, prefix: str, overlay: str, swarm_server: ServerProcess
) -> None:
    name = create_app(engine, prefix, overlay, 4)
    started, ident = slow_upgrade(swarm_server, name)
    ask(swarm_server, ident, "pause")
    held = holding(swarm_server, ident, timeout=120)
    assert held["holding"].startswith("with ") and held["holding"].endswith(f"on {APP}:2")
    assert engine.service(name)["Spec"]["UpdateConfig"]["Delay"] == HOLD
    assert engine.service(name)["UpdateStatus"]["State"] == "updating"
    with VersionSampler(lambda: task_versions(engine, name)) as sampler:
        sampler.wait(15)
    assert all(s == sampler.samples[0] for s in sampler.samples), sampler.samples
    assert "1" in sampler.samples[0].values()  # it holds before the end
    ask(swarm_server, ident, "resume")
    done = finished(swarm_server, started["id"], timeout=180)
    assert done["result"] == "upgraded", done["message"]
    assert settled(engine, name, 4) == ["2"] * 4
    spec = engine.service(name)["Spec"]
    assert spec["UpdateConfig"]["Delay"] == 3 * SECOND  # no 30-day delay left behind
    said = [e["message"] for e in done["details"]["events"]]
    assert any(m.startswith("pausing: Swarm's update delay is now 30 days") for m in said)
    assert any(m.startswith("paused: holds with ") for m in said)


def test_cancel_on_swarm_rolls_every_task_back(
    engine: Engine, prefix: str, overlay: str, swarm_server: ServerProcess
) -> None:
    name = create_app(engine, prefix, overlay, 3)
    started, ident = slow_upgrade(swarm_server, name)
    ask(swarm_server, ident, "cancel", status=202)
    done = finished(swarm_server, started["id"], timeout=180)
    assert done["result"] == "cancelled", done["message"]
    assert "Swarm cannot stop an update where it is" in done["message"]
    assert engine.service(name)["UpdateStatus"]["State"] == "rollback_completed"
    assert settled(engine, name, 3) == ["1", "1", "1"]


def test_rollback_mid_update_is_swarms_own_rollback(
    engine: Engine, prefix: str, overlay: str, swarm_server: ServerProcess
) -> None:
    name = create_app(engine, prefix, overlay, 3)
    started, ident = slow_upgrade(swarm_server, name)
    ask(swarm_server, ident, "rollback", status=202)
    done = finished(swarm_server, started["id"], timeout=180)
    assert done["result"] == "rolled_back", done["message"]
    assert f"rolled back to {APP}:1: asked by hand" in done["message"]
    assert engine.service(name)["UpdateStatus"]["State"] == "rollback_completed"
    assert settled(engine, name, 3) == ["1", "1", "1"]
    # while Swarm rolls back nothing more can be asked; once done, nothing at all
    late = ask(swarm_server, ident, "pause", status=409)
    assert "is done (rolled_back)" in late["message"]


def test_a_paused_swarm_update_rolled_back_goes_back_by_an_update_of_its_own(
    engine: Engine, prefix: str, overlay: str, swarm_server: ServerProcess
) -> None:
    name = create_app(engine, prefix, overlay, 3)
    started, ident = slow_upgrade(swarm_server, name)
    ask(swarm_server, ident, "pause")
    holding(swarm_server, ident, timeout=120)
    ask(swarm_server, ident, "rollback", status=202)
    done = finished(swarm_server, started["id"], timeout=180)
    assert done["result"] == "rolled_back", done["message"]
    said = [e["message"] for e in done["details"]["events"]]
    assert any("with an update of its own" in m for m in said), said
    service = engine.service(name)
    assert service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == f"{APP}:1"
    assert service["UpdateStatus"]["State"] == "completed"
    assert settled(engine, name, 3) == ["1", "1", "1"]
