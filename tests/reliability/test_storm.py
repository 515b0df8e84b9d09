"""Storms of triggers on one receiver: never past the bound, never a lost record, no 5xx."""

from __future__ import annotations

import itertools
from typing import Any

from tests.conftest import ServerFactory, replica_processes, web_service
from tests.reliability.load import by_id, executions, storm

STORM = 2000
CLIENTS = 50


def test_storm_with_a_raised_limit_ends_at_exactly_max(make_server: ServerFactory) -> None:
    server = make_server(
        {
            "services": {"web": web_service(replicas=1)},
            "hooks": {"rate": 100_000, "burst": 100_000},
        }
    )
    up = server.create_receiver("storm", service="web", action="up", amount=1, max=10)

    answers = storm([up["url"]], total=STORM, concurrency=CLIENTS)

    assert [a.status for a in answers] == [200] * STORM
    bodies = [a.body for a in answers]
    steps = sorted((b["before"], b["after"]) for b in bodies if b["result"] == "scaled")
    assert steps == [(n, n + 1) for n in range(1, 10)]  # each step once: no lost update
    assert sum(b["result"] == "noop" for b in bodies) == STORM - 9
    server.wait_for("web", desired=10, ready=10)
    assert len(replica_processes(server)) == 10
    assert by_id(executions(server, receiver="storm")) == by_id(
        bodies
    )  # every answer recorded, as answered


def test_storm_under_the_default_limit_gets_only_200_and_429(make_server: ServerFactory) -> None:
    server = make_server({"services": {"web": web_service(replicas=1)}})
    up = server.create_receiver("storm", service="web", action="up", amount=1, max=10)

    answers = storm([up["url"]], total=STORM, concurrency=CLIENTS)

    statuses = {a.status for a in answers}
    assert statuses == {200, 429}
    limited = [a for a in answers if a.status == 429]
    for answer in limited:
        assert answer.retry_after is not None
        assert int(answer.retry_after) >= 1
        assert answer.body["error"] == "rate_limited"
        assert "storm" in answer.body["message"]
    accepted = [a.body for a in answers if a.status == 200]
    assert len(accepted) >= 40  # the default burst
    server.wait_for("web", desired=10, ready=10)
    assert by_id(executions(server, receiver="storm")) == by_id(
        accepted
    )  # a 429 is not an execution


def chain_breaks(trail: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """Ids where an execution did not start from where the one before it ended."""
    return [
        (previous["id"], current["id"])
        for previous, current in itertools.pairwise(trail)
        if current["before"] != previous["after"]
    ]


def test_up_and_down_storm_keeps_a_trail_in_the_order_applied(
    make_server: ServerFactory,
) -> None:
    """The audit trail, read by id, replays the service's desired count step by step."""
    server = make_server(
        {
            "services": {"churn": churn_service("trail")},
            "hooks": {"rate": 100_000, "burst": 100_000},
        }
    )
    up = server.create_receiver("up", service="churn", action="up", amount=1, min=1, max=6)
    down = server.create_receiver("down", service="churn", action="down", amount=1, min=1, max=6)

    answers = storm([up["url"], up["url"], down["url"]], total=600, concurrency=CLIENTS)

    assert {a.status for a in answers} == {200}
    trail = executions(server, service="churn")
    assert len(trail) == 600
    assert trail[0]["before"] == 1
    assert chain_breaks(trail) == []
    assert server.service("churn")["desired"] == trail[-1]["after"]


def churn_service(marker: str, replicas: int = 1) -> dict[str, Any]:
    """Replicas that cost almost nothing to start and stop: ``sleep``, found by $MARK."""
    return {
        "command": ["sleep", "600"],
        "replicas": replicas,
        "env": {"MARK": marker},
        "readiness": {"tcp": True, "interval": "1s"},
        "stop_grace": "2s",
    }
