"""Rolling upgrades on the local backend, with real processes answering over HTTP.

Versions ``1``, ``2`` and ``4`` of the test app are healthy; ``3`` never passes its
readiness check. Every test reads the version each replica names in its own answer.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from typing import Any

from scalehook.testing import ServerProcess, wait_until
from tests.conftest import ServerFactory
from tests.upgrades import bodies
from tests.upgrades.helpers import (
    Sampler,
    execution,
    finished,
    hook,
    member_versions,
    release_service,
    settled_versions,
    upgrade_receiver,
)


def push(receiver: dict[str, Any], tag: str, repository: str = "acme/app") -> dict[str, Any]:
    response = hook(receiver["url"], bodies.dockerhub(repository, tag))
    assert response.status_code == 202, response.text
    started: dict[str, Any] = response.json()
    return started


def test_contract_a_docker_hub_push_upgrades_every_selected_service_on_acme_app(
    make_server: ServerFactory,
) -> None:
    server = make_server(
        {
            "services": {
                "a": release_service("acme/app:1", replicas=2),
                "b": release_service("acme/app:1.5", replicas=1),
                "c": release_service("acme/app:1", replicas=1, labels={"app": "other"}),
                "d": release_service("acme/web:1", replicas=1),
            }
        }
    )
    for name, count in (("a", 2), ("b", 1), ("c", 1), ("d", 1)):
        server.wait_for(name, ready=count)
    receiver = upgrade_receiver(server, "deploy", selector={"app": "shop"})
    assert receiver["driver"] == "serviceUpgrade"

    response = hook(receiver["url"], bodies.dockerhub("acme/app", "2"))
    assert response.status_code == 202, response.text
    first = response.json()
    rollouts = {r["service"]: r["execution_id"] for r in first["details"]["rollouts"]}
    assert set(rollouts) == {"local/a", "local/b"}
    assert first["id"] == rollouts["local/a"]
    assert first["details"]["skipped"] == [
        {"service": "local/d", "reason": "runs acme/web:1, not acme/app"}
    ]
    for ident in rollouts.values():
        assert finished(server, ident)["result"] == "upgraded"
    assert settled_versions(server, "a", 2) == ["2", "2"]
    assert settled_versions(server, "b", 1) == ["2"]
    assert member_versions(server, "c") == ["1"]
    assert member_versions(server, "d") == ["1"]
    history = server.client.get("/v1/executions", params={"service": "b"}).json()
    assert [(e["result"], e["details"]["from"], e["details"]["to"]) for e in history] == [
        ("upgraded", "acme/app:1.5", "acme/app:2")
    ]


def test_batches_are_respected_and_every_replica_runs_the_new_version(
    make_server: ServerFactory,
) -> None:
    service = release_service(replicas=4, env={"READY_DELAY": "0.3"})
    server = make_server({"services": {"web": service}})
    server.wait_for("web", ready=4)
    receiver = upgrade_receiver(server, "batches", batch_size=2, batch_interval="200ms")
    with Sampler(server, "web") as sampler:
        done = finished(server, push(receiver, "2")["id"])
    assert done["result"] == "upgraded", done["message"]
    batches = done["details"]["batches"]
    assert [len(b["replaced"]) for b in batches] == [2, 2]
    assert all(b["ready"] and b["phase"] == "rolling" for b in batches)
    assert {r for b in batches for r in b["replaced"]} == {"web-1", "web-2", "web-3", "web-4"}
    # stop-first, two at a time: never more than 4 running, never fewer than 2 ready
    assert max(s["running"] for s in sampler.samples) <= 4
    assert min(s["ready"] for s in sampler.samples) >= 2
    assert settled_versions(server, "web", 4) == ["2"] * 4
    assert server.service("web")["image"] == "acme/app:2"


def test_start_first_starts_the_new_replica_before_stopping_the_old(
    make_server: ServerFactory,
) -> None:
    service = release_service(replicas=2, env={"READY_DELAY": "1"})
    server = make_server({"services": {"web": service}})
    server.wait_for("web", ready=2)
    receiver = upgrade_receiver(server, "start-first", start_first=True)
    with Sampler(server, "web") as sampler:
        done = finished(server, push(receiver, "2")["id"])
    assert done["result"] == "upgraded", done["message"]
    assert [len(b["replaced"]) for b in done["details"]["batches"]] == [1, 1]
    # a third replica ran while the new one became ready; capacity never dropped
    assert max(s["running"] for s in sampler.samples) == 3
    assert min(s["ready"] for s in sampler.samples) >= 2
    assert all(s["desired"] == 2 for s in sampler.samples)
    assert settled_versions(server, "web", 2) == ["2", "2"]


def test_a_release_that_fails_its_readiness_check_is_rolled_back(
    make_server: ServerFactory,
) -> None:
    server = make_server({"services": {"web": release_service(replicas=3)}})
    server.wait_for("web", ready=3)
    receiver = upgrade_receiver(server, "rollback", health_timeout="2s")
    done = finished(server, push(receiver, "3")["id"])
    assert done["result"] == "rolled_back", done["message"]
    assert "rolled back to acme/app:1" in done["message"]
    assert "(acme/app:3) was not ready within 2s" in done["message"]
    phases = [(b["phase"], b["ready"]) for b in done["details"]["batches"]]
    assert phases == [("rolling", False), ("rolling_back", True)]
    assert settled_versions(server, "web", 3) == ["1", "1", "1"]
    assert server.service("web")["image"] == "acme/app:1"
    # the service is healthy and takes the next good release
    assert finished(server, push(receiver, "2")["id"])["result"] == "upgraded"
    assert settled_versions(server, "web", 3) == ["2", "2", "2"]


def test_a_failed_release_pauses_when_asked_and_says_where_it_stopped(
    make_server: ServerFactory,
) -> None:
    server = make_server({"services": {"web": release_service(replicas=2)}})
    server.wait_for("web", ready=2)
    receiver = upgrade_receiver(server, "pause", on_failure="pause", health_timeout="2s")
    done = finished(server, push(receiver, "3")["id"])
    assert done["result"] == "paused", done["message"]
    assert "1 of 2 replica(s) run acme/app:3, the others acme/app:1" in done["message"]
    assert sorted(member_versions(server, "web")) == ["1", "3"]
    assert server.service("web")["image"] == "acme/app:1"  # new replicas start on 1
    assert server.service("web")["ready"] == 1


def test_a_newer_push_supersedes_the_rollout_running_on_the_service(
    make_server: ServerFactory,
) -> None:
    server = make_server({"services": {"web": release_service(replicas=3)}})
    server.wait_for("web", ready=3)
    receiver = upgrade_receiver(server, "supersede", batch_interval="2s")
    first = push(receiver, "2")
    wait_until(
        lambda: len(execution(server, first["id"])["details"]["batches"]) == 1,
        what="the first batch of the first rollout",
    )
    second = push(receiver, "4")
    assert second["message"].endswith(f"waiting for execution {first['id']} to let go")

    old = finished(server, first["id"])
    assert old["result"] == "superseded"
    assert f"superseded by execution {second['id']} (acme/app:4) after 1 batch" in old["message"]
    new = finished(server, second["id"])
    assert new["result"] == "upgraded", new["message"]
    assert new["details"]["from"] == "acme/app:1"
    messages = [e["message"] for e in new["details"]["events"]]
    assert "the earlier rollout has stopped; starting" in messages
    # one rollout at a time: the new one's first batch came after the old one ended
    assert new["details"]["batches"][0]["at"] > old["details"]["events"][-1]["at"]
    assert settled_versions(server, "web", 3) == ["4", "4", "4"]


def test_a_rollout_cut_by_kill_9_is_finished_after_the_restart(
    make_server: ServerFactory,
) -> None:
    config = {"services": {"web": release_service(replicas=3)}}
    server = make_server(config)
    server.wait_for("web", ready=3)
    receiver = upgrade_receiver(server, "restart", batch_interval="2s")
    started = push(receiver, "2")
    wait_until(
        lambda: len(execution(server, started["id"])["details"]["batches"]) == 1,
        what="the first batch",
    )
    server.kill()

    again = server.start()
    try:
        done = finished(again, started["id"])
        assert done["result"] == "upgraded", done["message"]
        assert done["message"].endswith("(resumed after scalehook restarted)")
        messages = [e["message"] for e in done["details"]["events"]]
        assert any(m.startswith("scalehook restarted during this rollout") for m in messages)
        assert settled_versions(again, "web", 3) == ["2", "2", "2"]
    finally:
        again.stop()
    # the version is durable: the next start runs 2 at once, with nothing to resume
    third = server.start()
    try:
        assert settled_versions(third, "web", 3) == ["2", "2", "2"]
        assert third.service("web")["image"] == "acme/app:2"
        assert execution(third, started["id"])["result"] == "upgraded"
    finally:
        third.stop()


def test_a_broken_release_cut_by_a_stop_is_rolled_back_after_the_restart(
    make_server: ServerFactory,
) -> None:
    config = {"services": {"web": release_service(replicas=2)}}
    server = make_server(config)
    server.wait_for("web", ready=2)
    receiver = upgrade_receiver(server, "broken-restart", health_timeout="3s")
    started = push(receiver, "3")
    wait_until(
        lambda: any(r["image"] == "acme/app:3" for r in server.service("web")["replicas"]),
        what="a replica of version 3",
    )
    assert server.stop() == 0
    stopped = execution_in_store(server, started["id"])
    assert (stopped["status"], stopped["phase"]) == ("running", "rolling")
    assert "scalehook stopped during this rollout" in stopped["details"]["events"][-1]["message"]

    again = server.start()
    try:
        done = finished(again, started["id"])
        assert done["result"] == "rolled_back", done["message"]
        assert done["message"].endswith("(resumed after scalehook restarted)")
        assert settled_versions(again, "web", 2) == ["1", "1"]
    finally:
        again.stop()


def execution_in_store(server: ServerProcess, ident: int) -> dict[str, Any]:
    """An execution as a stopped server left it in its SQLite file (starting a server
    to ask would resume the rollout)."""
    with contextlib.closing(sqlite3.connect(server.data_dir / "scalehook.db")) as db:
        status, details = db.execute(
            "SELECT status, details FROM executions WHERE id = ?", (ident,)
        ).fetchone()
        (phase,) = db.execute(
            "SELECT phase FROM rollouts WHERE execution_id = ?", (ident,)
        ).fetchone()
    return {"status": status, "details": json.loads(details), "phase": phase}


def test_follow_prints_a_rollout_as_it_goes(make_server: ServerFactory) -> None:
    server = make_server({"services": {"web": release_service(replicas=2)}})
    server.wait_for("web", ready=2)
    receiver = upgrade_receiver(server, "follow")
    noop = hook(receiver["url"], bodies.dockerhub("acme/app", "1"))  # something to print first
    assert noop.status_code == 200, noop.text
    earlier = noop.json()["id"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCALEHOOK_")}
    env.update(SCALEHOOK_URL=server.url, SCALEHOOK_TOKEN=server.token)
    follower = subprocess.Popen(
        [sys.executable, "-m", "scalehook", "executions", "--follow", "--interval", "0.1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    stdout = follower.stdout
    assert stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(iter(stdout.readline, "")))
    reader.start()

    def printed(ident: int, result: str) -> bool:
        return any(line.split()[:1] == [str(ident)] and result in line for line in list(lines))

    try:
        wait_until(lambda: printed(earlier, "noop"), timeout=60, what="the follower's first poll")
        ident = push(receiver, "2")["id"]
        assert finished(server, ident)["result"] == "upgraded"
        wait_until(lambda: printed(ident, "upgraded"), timeout=60, what="the end, printed")
    finally:
        follower.send_signal(signal.SIGINT)
        try:
            _, err = follower.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # a loaded machine: do not hide what failed first
            follower.kill()
            _, err = follower.communicate()
        reader.join(timeout=30)
    out = "".join(lines)
    rows = [line.split() for line in out.splitlines() if line.split()[:1] == [str(ident)]]
    results = [row[5] for row in rows]
    assert results[0] == "upgrading", out + err
    assert results[-1] == "upgraded", out + err
    assert len(rows) >= 3  # started, at least one batch, done
    assert any("batch 1/2 ready" in line for line in out.splitlines())


def test_force_redeploys_the_running_tag(make_server: ServerFactory) -> None:
    server = make_server({"services": {"web": release_service("acme/app:latest", replicas=2)}})
    server.wait_for("web", ready=2)
    pids = {r["pid"] for r in server.service("web")["replicas"]}
    receiver = upgrade_receiver(server, "force", tag_policy="force")
    digest = bodies.digest_of("build-2")
    response = hook(receiver["url"], bodies.generic(f"acme/app:latest@{digest}"))
    assert response.status_code == 202, response.text
    assert finished(server, response.json()["id"])["result"] == "upgraded"
    assert settled_versions(server, "web", 2) == ["latest", "latest"]
    assert pids.isdisjoint(r["pid"] for r in server.service("web")["replicas"])
    assert server.service("web")["image"] == f"acme/app:latest@{digest}"
    # the same push again changes nothing: that digest already runs
    again = hook(receiver["url"], bodies.generic(f"acme/app:latest@{digest}"))
    assert again.status_code == 200 and again.json()["result"] == "noop"


def test_a_scale_in_the_middle_of_a_rollout_is_absorbed(make_server: ServerFactory) -> None:
    server = make_server({"services": {"web": release_service(replicas=2)}})
    server.wait_for("web", ready=2)
    receiver = upgrade_receiver(server, "scale-during", batch_interval="2s")
    started = push(receiver, "2")
    wait_until(
        lambda: len(execution(server, started["id"])["details"]["batches"]) == 1,
        what="the first batch",
    )
    scaled = server.client.post("/v1/services/web/scale", json={"replicas": 4})
    assert scaled.json()["result"] == "scaled"  # not blocked by the rollout
    done = finished(server, started["id"])
    assert done["result"] == "upgraded", done["message"]
    assert settled_versions(server, "web", 4) == ["2"] * 4
