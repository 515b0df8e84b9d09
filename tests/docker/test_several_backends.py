"""Several backends in one scalehook: local processes, a Swarm and a plain engine at once."""

from __future__ import annotations

import httpx
import pytest

from scalehook.backends.docker.groups import SERVICE_LABEL
from scalehook.testing import wait_until
from tests.cli.test_cli import run
from tests.conftest import ServerFactory, web_service
from tests.docker.conftest import WEB_IMAGE
from tests.docker.engine import TEST_LABEL, Engine
from tests.docker.test_docker_scaling import step, trigger
from tests.docker.test_swarm_scaling import service_spec

pytestmark = [pytest.mark.docker, pytest.mark.swarm, pytest.mark.usefixtures("images")]


def test_services_of_every_backend_are_addressed_by_backend_where_names_clash(
    engine: Engine, prefix: str, overlay: str, make_server: ServerFactory
) -> None:
    web, box = f"{prefix}-web", f"{prefix}-box"
    engine.create_service(service_spec(web, prefix, overlay))
    engine.run(f"{prefix}-box-1", WEB_IMAGE, labels={SERVICE_LABEL: box, TEST_LABEL: prefix})
    server = make_server(
        {
            "backends": {
                "local": {"type": "local"},
                "swarm": {"type": "swarm"},
                "box": {"type": "docker"},
            },
            "services": {web: web_service(replicas=1)},
        }
    )
    server.wait_for(f"local/{web}", ready=1)
    server.wait_for(f"swarm/{web}", ready=1, timeout=60)
    server.wait_for(f"box/{box}", ready=1)
    mine = [s for s in server.client.get("/v1/services").json() if s["name"].startswith(prefix)]
    assert sorted((s["ref"], s["backend"]) for s in mine) == [
        (f"box/{box}", "box"),
        (f"local/{web}", "local"),
        (f"swarm/{web}", "swarm"),
    ]
    listing = run(server, "services", "list").stdout.splitlines()
    assert listing[0].split()[:2] == ["SERVICE", "BACKEND"]
    rows = {line.split()[0]: line.split()[1] for line in listing[1:]}
    assert rows[f"swarm/{web}"] == "swarm" and rows[f"local/{web}"] == "local"
    assert rows[f"box/{box}"] == "box"

    ambiguous = server.client.post(
        "/v1/receivers",
        json={"name": "both", "driver": "scaleService", "config": {"service": web, "action": "up"}},
    )
    assert ambiguous.status_code == 422
    assert f"local/{web}" in ambiguous.json()["message"]
    assert f"swarm/{web}" in ambiguous.json()["message"]

    on_swarm = server.create_receiver("swarm-up", service=f"swarm/{web}", action="up")
    execution = trigger(on_swarm["url"])
    assert step(execution) == (1, 2, "scaled") and execution["target"] == f"swarm/{web}"
    wait_until(lambda: engine.running_tasks(web) == 2, what="2 running tasks")
    assert server.service(f"local/{web}")["desired"] == 1

    on_local = server.create_receiver("local-up", service=f"local/{web}", action="up")
    assert trigger(on_local["url"])["target"] == f"local/{web}"
    server.wait_for(f"local/{web}", desired=2, ready=2)
    assert engine.service(web)["Spec"]["Mode"]["Replicated"]["Replicas"] == 2

    on_box = server.create_receiver("box-up", service=box, action="up")  # unique: bare is fine
    execution = trigger(on_box["url"])
    assert step(execution) == (1, 2, "scaled") and execution["target"] == f"box/{box}"
    assert len(engine.labelled(SERVICE_LABEL, box)) == 2
    assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
