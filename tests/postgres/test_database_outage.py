"""Instances and their database coming and going: several starting at once on an empty
database, the database restarted under load (503 while it is down, back by
themselves), and the one setup that cannot share a database (a local backend)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic.script import ScriptDirectory

from scalehook.backends.docker.groups import SERVICE_LABEL
from scalehook.store.database import MIGRATIONS
from scalehook.testing import ServerProcess, wait_until
from scalehook.testing_postgres import PostgresCluster
from tests.docker.conftest import WEB_IMAGE
from tests.docker.engine import TEST_LABEL, Engine
from tests.postgres.conftest import FAST_LEADER, UNLIMITED, leaders, the_leader
from tests.postgres.test_storm_across_instances import spread
from tests.reliability.load import by_id, executions

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("images")]


def test_three_instances_started_at_once_on_an_empty_database(instances: Any) -> None:
    group = instances({"backend": "docker"}, count=3)
    servers = group.start(at_once=True)
    the_leader(servers)
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert group.cluster.sql("SELECT version_num FROM alembic_version", group.database) == head
    assert group.cluster.sql("SELECT count(*) FROM settings", group.database) == "1"
    for server in servers:  # one admin token for all, each answering the API
        assert server.client.get("/v1/receivers").json() == []


def test_the_database_restarted_under_load_is_503_then_recovered_by_itself(
    tmp_path: Path, engine: Engine, prefix: str
) -> None:
    service = f"{prefix}-web"
    engine.run(f"{prefix}-first", WEB_IMAGE, labels={SERVICE_LABEL: service, TEST_LABEL: prefix})
    with PostgresCluster() as cluster:
        config = {
            "backend": "docker",
            "hooks": UNLIMITED,
            "leader": FAST_LEADER,
            "database": cluster.create_database(),
        }
        servers = [
            ServerProcess(tmp_path / f"instance-{n}", config, token="t" * 24).start()
            for n in range(2)
        ]
        try:
            servers[0].wait_for(service, desired=1)
            made = servers[0].create_receiver("load", service=service, action="up", max=1)
            urls = spread(made["url"], servers)
            answers: list[tuple[str, int, Any]] = []
            stop = threading.Event()

            def load(url: str) -> None:
                with httpx.Client(timeout=60) as client:
                    while not stop.is_set():
                        try:
                            response = client.post(url)
                        except httpx.TransportError:
                            answers.append((url, 0, None))
                            continue
                        answers.append((url, response.status_code, response.json()))

            threads = [threading.Thread(target=load, args=(u,), daemon=True) for u in urls * 2]
            for thread in threads:
                thread.start()

            def answered(code: int, since: int = 0) -> set[str]:
                return {u for u, c, _ in answers[since:] if c == code}

            wait_until(lambda: answered(200) == set(urls), what="both answer triggers")
            cluster.stop()
            down = len(answers)
            wait_until(lambda: answered(503, down) == set(urls), what="both answer 503")
            wait_until(lambda: not leaders(servers), timeout=60, what="no leader without it")
            cluster.start()
            back = len(answers)
            wait_until(lambda: answered(200, back) == set(urls), timeout=60, what="both again")
            stop.set()
            for thread in threads:
                thread.join()
            the_leader(servers, timeout=60)
        finally:
            for server in servers:
                server.close()
            cluster.stop()
            cluster.start()  # to read what was kept
            kept = ServerProcess(tmp_path / "reader", config, token="t" * 24).start()
        try:
            assert {c for _, c, _ in answers} <= {200, 503}  # never a 500, never no answer
            for _, code, body in answers:
                if code == 503:
                    assert body["error"] == "store_unavailable", body
                    assert cluster.password not in body["message"]
            ok = [body for _, code, body in answers if code == 200]
            stored = by_id(executions(kept, receiver="load"))
            assert by_id(ok).items() <= stored.items()  # every answered trigger was kept
        finally:
            kept.close()


def test_a_local_backend_on_postgresql_is_refused_at_start(
    tmp_path: Path, postgres: PostgresCluster
) -> None:
    config = {"database": postgres.create_database(), "services": {}}
    server = ServerProcess(tmp_path / "local", config)
    with pytest.raises(RuntimeError) as refused:
        server.start()
    log = server.log()
    assert "the local backend 'local' runs services as this machine's processes" in log
    assert "alone: true" in log
    assert postgres.password not in log
    assert refused.value is not None
    alone = ServerProcess(tmp_path / "alone", {**config, "alone": True})
    with alone:
        assert leaders([alone]) == [alone]
