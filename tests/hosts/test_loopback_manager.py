"""netns hosts joining the machine's own Swarm, made as the docs say:
``docker swarm init --advertise-addr 127.0.0.1``.

A namespace's 127.0.0.1 is its own, so the provider sends the Swarm ports of
127.0.0.1 to the bridge's address (this machine) inside each host's namespace.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from scalehook.testing import ServerProcess
from tests.hosts.lab import RUN, destroy_workers, run_async_remove_bridge

ROOT = Path(__file__).resolve().parents[2]
BRIDGE = f"shkm{RUN}"
IMAGE = "scalehook-hosttest/sleep:1"


def docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def main_swarm(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The machine's engine as a Swarm manager (scripts/engines), with a test image."""
    done = subprocess.run([str(ROOT / "scripts" / "engines")], capture_output=True, text=True,
                          timeout=900)  # fmt: skip
    if done.returncode != 0:
        pytest.fail(f"no Docker engine for the tests:\n{done.stderr}", pytrace=False)
    context = tmp_path_factory.mktemp("sleep-image")
    shutil.copy("/bin/busybox", context / "busybox")
    (context / "Dockerfile").write_text(
        'FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT ["/bin/busybox"]\n'
        'CMD ["sleep", "3600"]\n'
    )
    docker("build", "-q", "-t", IMAGE, str(context))
    managers = json.loads(docker("info", "--format", "{{json .Swarm.RemoteManagers}}"))
    return str(managers[0]["Addr"])


def test_a_host_joins_a_swarm_that_advertises_127_0_0_1(
    main_swarm: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    group = f"loop{secrets.token_hex(3)}"
    state = tmp_path_factory.mktemp("loop-workers")
    settings = {
        "prefix": f"m{RUN}",
        "bridge": BRIDGE,
        "subnet": f"10.215.{RUN}.0/24",
        "images": ["scalehook-hosttest/*"],
        "state_dir": str(state),
    }
    server = ServerProcess(
        tmp_path_factory.mktemp("loop-server"), {"hosts": {"providers": {"netns": settings}}}
    )
    server.start()
    service = f"{group}-sleep"
    try:
        made = server.client.post(
            "/v1/hosts", json={"provider": "netns", "labels": {"group": group}}, timeout=300
        )
        assert made.status_code == 201, made.text
        host = made.json()
        assert host["state"] == "ready"
        docker(
            "service", "create", "-q", "--detach", "--name", service, "--replicas", "2",
            "--constraint", f"node.labels.group=={group}", "--network", "host",
            "--stop-grace-period", "1s", IMAGE,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = docker("service", "ps", service, "--format", "{{.Node}} {{.CurrentState}}")
            running = [line for line in states.splitlines() if " Running " in f" {line} "]
            if len(running) == 2:
                break
            time.sleep(0.5)
        assert len(running) == 2, states
        assert all(line.startswith(host["name"]) for line in running)
        node = docker("node", "inspect", host["id"], "--format", "{{.Status.State}}").strip()
        assert node == "ready"  # heartbeats keep passing through the namespace's NAT
        removed = server.client.delete(
            f"/v1/hosts/{host['id']}", params={"drain_timeout": "5s"}, timeout=300
        )
        assert removed.status_code == 200, removed.text
        assert host["id"] not in docker("node", "ls", "--format", "{{.ID}}")
    finally:
        subprocess.run(["docker", "service", "rm", service], capture_output=True)
        server.close()
        destroy_workers(state, settings)
        run_async_remove_bridge(BRIDGE)
