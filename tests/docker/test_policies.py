"""The same CPU policy on plain Docker and on Swarm (the machine's engine, a one-node
Swarm): a replica burns a core (a shell loop started in it), the service scales up;
the loop is killed, it scales back down after the window. Real containers, real tasks,
a real ``scalehook serve`` per engine. (The policies' other tests are in tests/policies/;
this one lives beside the engine's fixtures.)"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from scalehook.backends.docker.groups import REPLICA_LABEL, SERVICE_LABEL
from scalehook.testing import ServerProcess, wait_until
from tests.docker.conftest import WEB_IMAGE
from tests.docker.engine import TEST_LABEL, Engine
from tests.docker.test_swarm_scaling import service_spec
from tests.policies.conftest import cpu, desired, policy, scaled_by

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("images")]

# the test image is FROM scratch: no /tmp until the burn makes one (without it the pid
# is never written and the loop can never be stopped)
LOOP = "sh -c 'while :; do :; done' >/dev/null 2>&1"
BURN = ["sh", "-c", f"mkdir -p /tmp && {{ {LOOP} & echo $! >/tmp/burn; }}"]
STOP = ["sh", "-c", "kill $(cat /tmp/burn) && echo stopped"]


def cpu_policy(name: str, service: str) -> dict[str, Any]:
    """The policy both engines get: a low target (the cores are shared with other work)."""
    return policy(
        name,
        service,
        cpu(target=15),
        min=1,
        max=3,
        cpu_initialization="5s",
        behavior={"down": {"stabilization": "3s"}},
    )


def scale_on_burn(
    server: ServerProcess, name: str, service: str, burn: Callable[[list[str]], str]
) -> None:
    answer = server.client.post("/v1/policies", json=cpu_policy(name, service))
    assert answer.status_code == 201, answer.text
    wait_until(
        lambda: (
            (found := server.client.get(f"/v1/policies/{name}").json()["evaluations"])
            and found[0]["metrics"][0]["value"] is not None
        ),
        timeout=60,
        what="a first CPU figure",
    )
    assert desired(server, service) == 1
    burn(BURN)
    wait_until(lambda: desired(server, service) >= 2, timeout=120, what="a scale-up")
    up = scaled_by(server, name)
    assert up[-1]["before"] == 1 and up[-1]["details"]["metrics"][0]["value"] > 15
    assert "stopped" in burn(STOP)
    # under load the engine's samples come late, and a replica without one holds a
    # scale-down (as HPA's rule says): give the window time
    wait_until(lambda: desired(server, service) == 1, timeout=300, what="back down to 1")
    scaled_by(server, name, lambda e: e["after"] < e["before"], what="a scale-down recorded")


def test_the_cpu_policy_on_plain_docker(
    engine: Engine, prefix: str, docker_server: ServerProcess
) -> None:
    service = f"{prefix}-burn"
    first = engine.run(
        f"{service}-1",
        WEB_IMAGE,
        labels={SERVICE_LABEL: service, REPLICA_LABEL: "1", TEST_LABEL: prefix},
    )
    docker_server.wait_for(service, desired=1, ready=1, timeout=60)
    scale_on_burn(docker_server, f"{prefix}-cpu", service, lambda cmd: engine.exec(first, cmd))
    wait_until(lambda: len(engine.labelled(SERVICE_LABEL, service)) == 1, timeout=60)
    docker_server.client.delete(f"/v1/policies/{prefix}-cpu")


@pytest.mark.swarm
def test_the_cpu_policy_on_swarm(
    engine: Engine, prefix: str, overlay: str, swarm_server: ServerProcess
) -> None:
    service = f"{prefix}-burn"
    engine.create_service(service_spec(service, prefix, overlay))
    swarm_server.wait_for(service, desired=1, running=1, ready=1, timeout=60)
    (task,) = engine.containers(**{"com.docker.swarm.service.name": service})

    def burn(cmd: list[str]) -> str:
        return engine.exec(task["Id"], cmd)

    scale_on_burn(swarm_server, f"{prefix}-cpu", service, burn)
    wait_until(lambda: engine.running_tasks(service) == 1, timeout=300, what="one task again")
    swarm_server.client.delete(f"/v1/policies/{prefix}-cpu")
