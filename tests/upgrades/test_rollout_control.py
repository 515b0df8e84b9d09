"""Rollout control on the local backend: pause, resume, cancel and roll back a running
rollout, with real processes; what each replica runs is read from its own answer.

Pauses are judged by what the replicas answer: a sampler keeps asking each one its
version while the rollout holds, and nothing may change until it is resumed. No test
asserts a timing.
"""

from __future__ import annotations

from typing import Any

from scalehook.testing import ServerProcess, wait_until
from tests.conftest import ServerFactory
from tests.upgrades.helpers import (
    VersionSampler,
    ask,
    execution,
    finished,
    holding,
    release_service,
    replica_versions,
    rollout,
    rollout_of,
    settled_versions,
)


def upgrade(server: ServerProcess, tag: str, **strategy: Any) -> dict[str, Any]:
    strategy.setdefault("batch_interval", 0)
    strategy.setdefault("health_timeout", "10s")
    response = server.client.post(
        "/v1/services/web/upgrade", json={"image": f"acme/app:{tag}", "strategy": strategy}
    )
    assert response.status_code == 202, response.text
    started: dict[str, Any] = response.json()
    return started


def events(server: ServerProcess, started: dict[str, Any]) -> list[str]:
    return [e["message"] for e in execution(server, started["id"])["details"]["events"]]


def after_first_batch(server: ServerProcess, started: dict[str, Any]) -> None:
    wait_until(
        lambda: len(execution(server, started["id"])["details"]["batches"]) >= 1,
        timeout=60,
        what="the first batch done",
    )


def test_a_paused_rollout_holds_between_batches_and_resume_finishes_it(
    make_server: ServerFactory,
) -> None:
    server = make_server({"services": {"web": release_service(replicas=3)}})
    server.wait_for("web", ready=3)
    # a slow interval, so the pause lands between batch 1 and batch 2
    started = upgrade(server, "2", batch_interval="2s")
    ident = rollout_of(server, started)
    after_first_batch(server, started)
    paused = ask(server, ident, "pause")
    assert paused["paused"] is True and paused["state"] in ("pausing", "paused")
    held = holding(server, ident)
    assert held["holding"] == "before batch 2/3"
    assert (held["batches_done"], held["batches_total"]) == (1, 3)
    assert (held["replicas_ready"], held["replicas_desired"], held["replicas_on_target"]) == (
        3,
        3,
        1,
    )
    with VersionSampler(lambda: replica_versions(server, "web")) as sampler:
        sampler.wait(40)  # many looks at every replica while it holds
    assert all(s == sampler.samples[0] for s in sampler.samples), sampler.samples
    assert sorted(sampler.samples[0].values()) == ["1", "1", "2"]
    assert rollout(server, ident)["state"] == "paused"
    # asked again: answered as it is
    assert ask(server, ident, "pause")["state"] == "paused"

    assert ask(server, ident, "resume")["paused"] is False
    done = finished(server, started["id"])
    assert done["result"] == "upgraded", done["message"]
    assert settled_versions(server, "web", 3) == ["2", "2", "2"]
    said = events(server, started)
    assert "pause asked by hand (127.0.0.1): it holds once the batch under way is done" in said
    assert "paused: holds before batch 2/3" in said
    assert "resume asked by hand (127.0.0.1)" in said
    assert rollout(server, ident)["state"] == "upgraded"


def test_cancel_leaves_each_replica_on_one_version_and_says_so(
    make_server: ServerFactory,
) -> None:
    server = make_server({"services": {"web": release_service(replicas=3)}})
    server.wait_for("web", ready=3)
    started = upgrade(server, "2", batch_interval="2s")
    ident = rollout_of(server, started)
    after_first_batch(server, started)
    assert ask(server, ident, "pause")["paused"]
    holding(server, ident)
    cancelling = ask(server, ident, "cancel", status=202)
    assert cancelling["state"] in ("cancelling", "cancelled")
    done = finished(server, started["id"])
    assert done["result"] == "cancelled", done["message"]
    assert (
        "cancelled by hand: 1 of 3 replica(s) run acme/app:2, the others acme/app:1; "
        "new replicas start on acme/app:1" in done["message"]
    )
    assert sorted(settled_versions(server, "web", 3)) == ["1", "1", "2"]
    assert server.service("web")["image"] == "acme/app:1"
    assert rollout(server, ident)["state"] == "cancelled"
    outcome = server.client.get("/v1/services/web/revisions").json()[-1]["outcome"]
    assert outcome == "cancelled"
    # a cancelled rollout is done: nothing more can be asked of it
    late = ask(server, ident, "resume", status=409)
    assert (
        late["message"]
        == f"rollout {ident} of local/web is done (cancelled): there is nothing to resume"
    )


def test_cancel_stops_the_batch_under_way(make_server: ServerFactory) -> None:
    server = make_server(
        {"services": {"web": release_service(replicas=2, env={"READY_DELAY": "30"})}}
    )
    server.wait_for("web", ready=2, timeout=60)
    started = upgrade(server, "2", start_first=True, health_timeout="60s")
    ident = rollout_of(server, started)
    wait_until(
        lambda: len(server.service("web")["replicas"]) == 3,
        what="the first batch's new replica started beside the old ones",
    )
    ask(server, ident, "cancel", status=202)
    done = finished(server, started["id"])
    assert done["result"] == "cancelled", done["message"]
    assert "0 of 2 replica(s) run acme/app:2" in done["message"]
    assert "batch 1/2 stopped: cancel asked by hand" in events(server, started)
    # the new replica, never ready, is gone; the old ones serve as they did
    assert settled_versions(server, "web", 2) == ["1", "1"]


def test_rollback_turns_a_running_rollout_around(make_server: ServerFactory) -> None:
    server = make_server({"services": {"web": release_service(replicas=3)}})
    server.wait_for("web", ready=3)
    started = upgrade(server, "2", batch_interval="2s")
    ident = rollout_of(server, started)
    after_first_batch(server, started)
    turning = ask(server, ident, "rollback", status=202)
    assert turning["state"] == "rolling_back"
    done = finished(server, started["id"])
    assert done["result"] == "rolled_back", done["message"]
    assert "rolled back to acme/app:1: asked by hand" in done["message"]
    assert [(b["phase"], b["ready"]) for b in done["details"]["batches"]] == [
        ("rolling", True),
        ("rolling_back", True),
    ]
    assert settled_versions(server, "web", 3) == ["1", "1", "1"]
    assert server.client.get("/v1/services/web/revisions").json()[-1]["outcome"] == "rolled_back"


def test_a_paused_rollout_rolled_back_goes_back_at_once(make_server: ServerFactory) -> None:
    server = make_server({"services": {"web": release_service(replicas=3)}})
    server.wait_for("web", ready=3)
    started = upgrade(server, "2", batch_interval="2s")
    ident = rollout_of(server, started)
    after_first_batch(server, started)
    ask(server, ident, "pause")
    holding(server, ident)
    ask(server, ident, "rollback", status=202)
    assert finished(server, started["id"])["result"] == "rolled_back"
    assert settled_versions(server, "web", 3) == ["1", "1", "1"]


def test_a_pause_is_kept_across_a_restart_of_scalehook(make_server: ServerFactory) -> None:
    server = make_server({"services": {"web": release_service(replicas=3)}})
    server.wait_for("web", ready=3)
    started = upgrade(server, "2", batch_interval="2s")
    ident = rollout_of(server, started)
    after_first_batch(server, started)
    ask(server, ident, "pause")
    holding(server, ident)
    assert server.stop() == 0

    again = server.start()
    # local replicas die with scalehook: they come back on the service's version (1),
    # and the resumed rollout holds before its first batch instead of replacing them
    held = holding(again, ident)
    assert held["holding"] == "before batch 1/3"
    assert held["paused"] is True
    with VersionSampler(lambda: replica_versions(again, "web")) as sampler:
        sampler.wait(30)
    assert all(sorted(s.values()) == ["1", "1", "1"] for s in sampler.samples), sampler.samples
    said = events(again, started)
    assert any(
        m.startswith("scalehook restarted during this rollout; resuming (upgrading, paused")
        for m in said
    ), said

    ask(again, ident, "resume")
    done = finished(again, started["id"])
    assert done["result"] == "upgraded", done["message"]
    assert done["message"].endswith("(resumed after scalehook restarted)")
    assert settled_versions(again, "web", 3) == ["2", "2", "2"]


def test_the_list_shows_running_and_recent_rollouts_and_commands_are_refused_when_they_cannot_be(
    make_server: ServerFactory,
) -> None:
    server = make_server({"services": {"web": release_service(replicas=2)}})
    server.wait_for("web", ready=2)
    first = upgrade(server, "2")
    assert finished(server, first["id"])["result"] == "upgraded"
    second = upgrade(server, "4", batch_interval="2s")
    ident = rollout_of(server, second)
    after_first_batch(server, second)

    listed = server.client.get("/v1/rollouts").json()
    assert [r["id"] for r in listed] == [ident, rollout_of(server, first)]
    running, done = listed
    assert (running["service"], running["from"], running["to"]) == (
        "local/web",
        "acme/app:2",
        "acme/app:4",
    )
    assert (running["status"], running["state"], running["revision"]) == ("running", "rolling", 3)
    assert (running["driver"], running["caller"]) == ("api", "127.0.0.1")
    assert running["batches_done"] == 1 and running["batches_total"] == 2
    assert running["replicas_ready"] == 2 and running["replicas_desired"] == 2
    assert (done["state"], done["replicas_ready"]) == ("upgraded", None)  # none shown when done
    assert [r["id"] for r in server.client.get("/v1/rollouts?status=running").json()] == [ident]
    assert [r["id"] for r in server.client.get("/v1/rollouts?service=nope").json()] == []

    late = ask(server, rollout_of(server, first), "pause", status=409)
    assert late["message"].endswith("is done (upgraded): there is nothing to pause")
    unknown = server.client.post("/v1/rollouts/9999/cancel")
    assert unknown.status_code == 404 and unknown.json()["error"] == "rollout_not_found"
    assert server.client.post("/v1/rollouts/x/cancel").status_code == 422
    ask(server, ident, "rollback", status=202)
    twice = ask(server, ident, "rollback", status=409)
    assert "rolling back already" in twice["message"] or "rolled back already" in twice["message"]
    assert finished(server, second["id"])["result"] == "rolled_back"


def test_a_superseded_rollout_is_not_steered_any_more(make_server: ServerFactory) -> None:
    server = make_server({"services": {"web": release_service(replicas=2)}})
    server.wait_for("web", ready=2)
    first = upgrade(server, "2", batch_interval="2s")
    ident = rollout_of(server, first)
    after_first_batch(server, first)
    ask(server, ident, "pause")
    holding(server, ident)
    second = upgrade(server, "4")
    # while the old one lets go it is "being superseded", then it is done (superseded):
    # either way the answer is 409 and names the newer rollout's part in it
    for what in ("pause", "resume", "cancel", "rollback"):
        refused = ask(server, ident, what, status=409)
        assert "supersed" in refused["message"], refused
    assert finished(server, first["id"])["result"] == "superseded"
    assert finished(server, second["id"])["result"] == "upgraded"
    assert settled_versions(server, "web", 2) == ["4", "4"]
