"""One leader runs the loops; when it dies (``kill -9``) another takes over within the
lease, finishes (or rolls back) the rollout it was running and acts on its policies; a
leader cut off from the database stops leading before anyone else can start."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from scalehook.testing import ServerProcess, wait_until
from scalehook.testing_postgres import PostgresCluster
from tests.docker.engine import Engine
from tests.docker.test_docker_upgrades import push as docker_push
from tests.docker.test_docker_upgrades import receiver as docker_receiver
from tests.docker.test_docker_upgrades import rows, run_app
from tests.docker.test_docker_upgrades import versions as docker_versions
from tests.docker.test_swarm_upgrades import create_app
from tests.docker.test_swarm_upgrades import push as swarm_push
from tests.docker.test_swarm_upgrades import receiver as swarm_receiver
from tests.docker.test_swarm_upgrades import versions as swarm_versions
from tests.postgres.conftest import health, leaders, the_leader
from tests.postgres.proxy import Relay
from tests.upgrades.helpers import execution, finished

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("apps")]


def batches(server: ServerProcess, ident: int) -> int:
    return len(execution(server, ident)["details"]["batches"])


def test_the_leader_killed_mid_rollout_on_docker_is_replaced_and_the_rollout_ends(
    instances: Any, engine: Engine, prefix: str
) -> None:
    service = run_app(engine, prefix, 3)
    servers = instances({"backend": "docker"}, count=3).start()
    leader = the_leader(servers)
    first, second = (s for s in servers if s is not leader)
    first.wait_for(service, ready=3)
    found = docker_receiver(first, prefix, batch_interval="2s")
    started = docker_push(found, "2")  # answered by a follower: the leader runs it
    wait_until(lambda: batches(second, started["id"]) >= 1, what="a batch done by the leader")

    leader.kill()
    successor = the_leader([first, second], timeout=60)
    done = finished(successor, started["id"], timeout=180)

    assert done["result"] in ("upgraded", "rolled_back"), done["message"]
    assert f"resumed by instance {health(successor)['instance']}" in done["message"]  # type: ignore[index]
    events = [e["message"] for e in done["details"]["events"]]
    assert any("stopped running this rollout; resuming" in m for m in events), events
    found_versions = docker_versions(engine, service)
    assert found_versions == (["2"] * 3 if done["result"] == "upgraded" else ["1"] * 3)
    assert len(rows(engine, service)) == 3


def test_the_leader_killed_mid_swarm_update_is_replaced_and_the_update_watched_to_its_end(
    instances: Any, engine: Engine, prefix: str, overlay: str
) -> None:
    name = create_app(engine, prefix, overlay, 3)
    servers = instances({"backend": "swarm"}, count=2).start()
    leader = the_leader(servers)
    (other,) = (s for s in servers if s is not leader)
    found = swarm_receiver(leader, prefix, batch_interval="1s")
    started = swarm_push(found, "2")
    wait_until(lambda: batches(other, started["id"]) >= 1, what="the first task updated")

    leader.kill()
    assert the_leader([other], timeout=60) is other
    done = finished(other, started["id"], timeout=180)

    assert done["result"] == "upgraded", done["message"]
    assert "resumed by instance" in done["message"]
    service = engine.service(name)
    # watched, not issued again: the spec before it is still the one before the push
    assert service["PreviousSpec"]["TaskTemplate"]["ContainerSpec"]["Image"].startswith(
        "scalehook-test/app:1"
    )
    assert swarm_versions(engine, name) == ["2", "2", "2"]


def test_a_leader_cut_off_from_the_database_stops_before_another_leads(
    tmp_path: Path, postgres: PostgresCluster
) -> None:
    """The leader reaches PostgreSQL through a relay that then freezes: it stops
    leading by itself, and the other instance leads only after that, never both."""
    url = postgres.create_database()
    config = {
        "backend": "docker",
        "leader": {"lease": "3s", "renew": "1s"},
        "database": url,
    }
    with Relay(postgres.port) as relay:
        cut = {**config, "database": url.replace(f":{postgres.port}/", f":{relay.port}/")}
        first = ServerProcess(tmp_path / "first", cut).start()
        second = ServerProcess(tmp_path / "second", config)
        try:
            assert leaders([first]) == [first]
            second.start()
            assert leaders([first, second]) == [first]
            both: list[tuple[bool, bool]] = []
            stop = threading.Event()

            def watch() -> None:
                while not stop.is_set():
                    led = leaders([first, second])
                    both.append((first in led, second in led))
                    time.sleep(0.02)

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            relay.freeze()
            wait_until(lambda: leaders([second]) == [second], timeout=60, what="a new leader")
            stop.set()
            watcher.join()
            assert (True, True) not in both
            assert both[0] == (True, False) and both[-1] == (False, True)
            handover = both.index((False, True))
            assert (False, False) in both[:handover]  # the first had stopped already
        finally:
            relay.thaw()
            first.close()
            second.close()


def scalings(server: ServerProcess, name: str) -> list[tuple[int, int]]:
    """(before, after) of the policy's scaling executions, oldest first."""
    trail = server.client.get("/v1/executions", params={"receiver": name}).json()
    return sorted((e["before"], e["after"]) for e in trail if e["result"] == "scaled")


def _floor(name: str, service: str, replicas: int) -> dict[str, Any]:
    """A policy whose one metric is a schedule open all the time: a floor of ``replicas``."""
    window = {"name": "floor", "type": "schedule", "cron": "* * * * *", "duration": "1h"}
    return {
        "name": name,
        "service": service,
        "min": 1,
        "max": 4,
        "interval": "1s",
        "metrics": [{**window, "replicas": replicas}],
    }


def test_the_leader_killed_while_a_policy_acts_is_replaced_and_the_policy_acts_on(
    instances: Any, engine: Engine, prefix: str
) -> None:
    service = run_app(engine, prefix, 1)
    servers = instances({"backend": "docker"}, count=2).start()
    leader = the_leader(servers)
    (follower,) = (s for s in servers if s is not leader)
    follower.wait_for(service, ready=1)
    name = f"{prefix}-floor"
    created = follower.client.post("/v1/policies", json=_floor(name, service, 2))
    assert created.status_code == 201, created.text
    wait_until(lambda: scalings(follower, name) == [(1, 2)], timeout=90, what="the leader: 2")
    assert len(rows(engine, service)) == 2

    leader.kill()
    assert the_leader([follower], timeout=60) is follower
    changed = follower.client.patch(f"/v1/policies/{name}", json=_floor(name, service, 3))
    assert changed.status_code == 200, changed.text
    wait_until(
        lambda: scalings(follower, name) == [(1, 2), (2, 3)], timeout=90, what="the new leader: 3"
    )
    assert len(rows(engine, service)) == 3
    assert follower.client.get(f"/v1/policies/{name}").json()["evaluations"]  # it leads now
