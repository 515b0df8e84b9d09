"""An engine that goes away and comes back, and an engine reached over TCP with TLS.

Both run on a private dockerd of this module's own, never on the machine's engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scalehook.backends.docker.groups import SERVICE_LABEL
from scalehook.testing import free_port, wait_until
from tests.conftest import ServerFactory
from tests.docker.conftest import WEB_IMAGE, build_images
from tests.docker.engine import TEST_LABEL, Engine
from tests.docker.private_engine import PrivateEngine, make_certs
from tests.docker.test_docker_scaling import step, trigger

pytestmark = [pytest.mark.docker]

ALWAYS = {"NetworkMode": "none", "RestartPolicy": {"Name": "always"}}


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("certs")


@pytest.fixture(scope="module")
def private(engine: Engine, certs: Path) -> Iterator[PrivateEngine]:
    """A dockerd listening on its own socket and on TCP with TLS (client certs required)."""
    make_certs(certs)
    daemon = PrivateEngine(tls_port=free_port(), certs=certs)
    try:
        daemon.start()
        build_images(daemon.client)
        yield daemon
    finally:
        daemon.close()


def running(engine: Engine, service: str) -> int:
    return sum(1 for row in engine.labelled(SERVICE_LABEL, service) if row["State"] == "running")


def test_an_engine_over_tcp_with_tls(
    private: PrivateEngine, certs: Path, make_server: ServerFactory
) -> None:
    service = "tls-web"
    private.client.run(
        "tls-web-1",
        WEB_IMAGE,
        labels={SERVICE_LABEL: service, TEST_LABEL: "tls"},
        host_config=ALWAYS,
    )
    server = make_server(
        {"backend": "docker", "docker_host": f"tcp://127.0.0.1:{private.tls_port}"},
        env={"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(certs / "client")},
    )
    server.wait_for(service, desired=1, running=1)
    scaled = server.client.post(f"/v1/services/{service}/scale", json={"replicas": 2})
    assert scaled.status_code == 200, scaled.text
    assert len(private.client.labelled(SERVICE_LABEL, service)) == 2

    # the same port without our client certificate: the engine's refusal, not a crash
    plain = make_server(
        {"backend": "docker", "docker_host": f"tcp://127.0.0.1:{private.tls_port}"},
        name="no-tls",
        env={"DOCKER_TLS_VERIFY": "", "DOCKER_CERT_PATH": ""},
    )
    refused = plain.client.get(f"/v1/services/{service}")
    assert refused.status_code == 409, refused.text  # as configured, it never works
    assert refused.json()["error"] == "backend_unsupported"
    assert "HTTPS" in refused.json()["message"]


def test_engine_stopped_then_back_answers_503_records_failed_and_recovers(
    private: PrivateEngine, make_server: ServerFactory
) -> None:
    service = "outage-web"
    private.client.run(
        "outage-web-1",
        WEB_IMAGE,
        labels={SERVICE_LABEL: service, TEST_LABEL: "outage"},
        host_config=ALWAYS,
    )
    server = make_server({"backend": "docker", "docker_host": f"unix://{private.socket}"})
    up = server.create_receiver("up", service=service, action="up", max=9)
    assert step(trigger(up["url"])) == (1, 2, "scaled")
    wait_until(lambda: running(private.client, service) == 2, what="2 running containers")

    private.stop()
    response = httpx.post(up["url"], timeout=60)
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "backend_unavailable"
    assert "unreachable" in body["message"] and str(private.socket) in body["message"]
    latest = server.client.get("/v1/executions", params={"receiver": "up", "limit": 1}).json()[0]
    assert (latest["id"], latest["result"]) == (body["execution_id"], "failed")
    assert latest["message"] == body["message"]
    assert server.client.get(f"/v1/services/{service}").status_code == 503
    listing = server.client.get("/v1/services")  # the only backend: no list, never []
    assert listing.status_code == 503 and listing.json()["error"] == "backend_unavailable"
    assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200

    private.start()  # the same engine, its containers restarted by their policy
    wait_until(lambda: running(private.client, service) == 2, what="containers back")
    assert len(private.client.labelled(SERVICE_LABEL, service)) == 2  # nothing half-applied
    assert step(trigger(up["url"])) == (2, 3, "scaled")  # no restart of scalehook needed
    wait_until(lambda: running(private.client, service) == 3, what="3 running containers")
    server.wait_for(service, desired=3, running=3, ready=3)


def test_a_swarm_backend_on_an_engine_outside_a_swarm_is_refused_with_a_4xx(
    private: PrivateEngine, make_server: ServerFactory
) -> None:
    """The engine answers 503 "not a swarm manager" to every Swarm call; retrying can
    never help until someone makes it one, so scalehook answers 409 (and Alertmanager,
    which retries any 5xx for ever, drops it)."""
    private.client.run(
        "plain-web-1",
        WEB_IMAGE,
        labels={SERVICE_LABEL: "plain-web", TEST_LABEL: "plain"},
        host_config=ALWAYS,
    )
    server = make_server(
        {
            "backends": {
                "cluster": {"type": "swarm", "docker_host": f"unix://{private.socket}"},
                "box": {"type": "docker", "docker_host": f"unix://{private.socket}"},
            }
        }
    )
    assert "is not a swarm manager" in server.log()  # said at start, and it serves on
    scaled = server.client.post("/v1/services/cluster/web/scale", json={"replicas": 2})
    assert scaled.status_code == 409, scaled.text
    body = scaled.json()
    assert body["error"] == "backend_unsupported"
    assert "not a swarm manager" in body["message"]
    latest = server.client.get("/v1/executions", params={"limit": 1}).json()[0]
    assert (latest["id"], latest["result"]) == (body["execution_id"], "failed")
    # the same engine as a plain Docker backend is fine; a listing names the Swarm one as
    # unavailable, and a bare name is found where it is
    listing = server.client.get("/v1/services")
    assert listing.headers["x-unavailable-backends"] == "cluster"
    listed = listing.json()
    assert {s["backend"] for s in listed} == {"box"} and "box/plain-web" in {
        s["ref"] for s in listed
    }
    assert server.client.get("/v1/services/plain-web").json()["backend"] == "box"
    # a name no other backend has may be the Swarm's: not a 404, the same 409
    unknown = server.client.get("/v1/services/web")
    assert unknown.status_code == 409, unknown.text
