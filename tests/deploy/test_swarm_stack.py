"""scalehook's image deployed as a Swarm stack with ``deploy/stack.yml`` on the real
one-node Swarm, scaling another service of the stack through a trigger.

The stack file is deployed as it is; the test only chooses what a test must: the stack's
name, a free published port, the secret's name (all through the variables the file
reads), and adds a second file to the deploy that puts a busybox web app in the stack.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest

from scalehook.testing import free_port, wait_until
from tests.deploy.stack import Stack, docker
from tests.docker.conftest import WEB_IMAGE
from tests.docker.engine import Engine

ROOT = Path(__file__).resolve().parents[2]
STACK_FILE = ROOT / "deploy" / "stack.yml"
SOCKET = "/var/run/docker.sock"

pytestmark = [pytest.mark.docker, pytest.mark.swarm]

WEB_SERVICE = f"""version: "3.8"
services:
  web:
    image: {WEB_IMAGE}
    deploy:
      replicas: 1
"""


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def stack(engine: Engine) -> Any:
    deployed = Stack(engine, f"shk{secrets.token_hex(3)}")
    try:
        yield deployed
    finally:
        deployed.remove()
        assert not any(deployed.leftovers().values()), deployed.leftovers()


@pytest.mark.timeout(1800)  # the first build of the image on a machine takes minutes
def test_the_image_as_a_swarm_stack_scales_another_service_through_a_trigger(
    scalehook_image: str, images: None, stack: Stack, engine: Engine, tmp_path: Path
) -> None:
    token = secrets.token_urlsafe(32)
    secret = f"{stack.name}_admin_token"
    stack.create_secret(secret, token + "\n")  # as `... | docker secret create` leaves it
    port = free_port()
    gid = os.stat(SOCKET).st_gid
    web_file = tmp_path / "web.yml"
    web_file.write_text(WEB_SERVICE)
    stack.deploy(
        [STACK_FILE, web_file],
        env={
            "DOCKER_GID": str(gid),
            "SCALEHOOK_IMAGE": scalehook_image,
            "SCALEHOOK_PORT": str(port),
            "SCALEHOOK_ADMIN_SECRET": secret,
        },
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(f"{url}/healthz"), timeout=180, interval=0.5, what="healthz")
    except AssertionError:
        pytest.fail(f"scalehook never answered:\n{stack.diagnosis('scalehook')}")
    web = stack.service("web")
    wait_until(lambda: engine.running_tasks(web) == 1, timeout=120, interval=0.5, what="web up")

    # Unprivileged, on a read-only root, the socket reached through its group only.
    container = stack.running_container("scalehook")
    assert container["Config"]["User"] == f"10001:{gid}"
    assert container["HostConfig"]["ReadonlyRootfs"] is True
    mounts = {m["Destination"]: m for m in container["Mounts"]}
    assert mounts["/var/lib/scalehook"]["Name"] == f"{stack.name}_data"
    assert mounts[SOCKET]["Type"] == "bind"

    api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    try:
        assert httpx.get(f"{url}/v1/receivers", timeout=30).status_code == 401
        listed = {s["name"]: s for s in api.get("/v1/services").raise_for_status().json()}
        assert listed[web]["desired"] == 1, listed

        created = api.post(
            "/v1/receivers",
            json={
                "name": "web-up",
                "driver": "scaleService",
                "config": {"service": web, "action": "up", "amount": 2, "max": 4},
            },
        )
        assert created.status_code == 201, created.text
        hook = created.json()["url"]
        assert hook.startswith(f"{url}/v1/hooks/")
        fired = httpx.post(hook, timeout=60)  # the trigger needs no token
        assert fired.status_code == 200, fired.text
        execution = fired.json()
        assert (execution["result"], execution["before"], execution["after"]) == ("scaled", 1, 3)
        wait_until(
            lambda: engine.running_tasks(web) == 3, timeout=120, interval=0.5, what="3 web tasks"
        )
        assert engine.service(web)["Spec"]["Mode"]["Replicated"]["Replicas"] == 3

        # The image's HEALTHCHECK passes, so Swarm keeps the task.
        wait_until(
            lambda: stack.running_container("scalehook")["State"]["Health"]["Status"] == "healthy",
            timeout=120,
            interval=1,
            what="scalehook healthy",
        )

        # A new task (same volume, same secret) has the receiver and its audit trail.
        first = container["Id"]
        docker("service", "update", "--detach", "--force", stack.service("scalehook"))
        wait_until(
            lambda: any(
                c["State"] == "running" and c["Id"] != first for c in stack.containers("scalehook")
            ),
            timeout=180,
            interval=0.5,
            what="a new scalehook task",
        )
        wait_until(lambda: answers(f"{url}/healthz"), timeout=180, interval=0.5, what="healthz")
        assert api.get("/v1/receivers/web-up").status_code == 200
        trail = api.get("/v1/executions", params={"receiver": "web-up"}).json()
        assert [e["id"] for e in trail] == [execution["id"]]
    finally:
        api.close()
