"""A private multi-node Swarm (manager + netns workers) and a scalehook driving it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from scalehook.testing import ServerProcess
from tests.hosts.lab import SwarmLab, destroy_workers, leftovers, remove_bridge, worker_settings


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SwarmLab]:
    if os.geteuid() != 0:
        pytest.fail("host tests need root: network namespaces and Docker engines")
    remove_bridge()
    lab = SwarmLab(tmp_path_factory.mktemp("swarm-lab")).start()
    try:
        yield lab
    finally:
        lab.stop()
        remove_bridge()
        left = leftovers()
        assert left == [], f"host tests left these behind: {left}"


@pytest.fixture(scope="module")
def host_server(lab: SwarmLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    state = tmp_path_factory.mktemp("workers")
    config = {
        "hosts": {
            "docker_host": lab.docker_host,
            "ready_timeout": "90s",
            "drain_timeout": "60s",
            "providers": {"netns": worker_settings(state)},
        },
        "hooks": {"rate": 1000, "burst": 1000},
    }
    server = ServerProcess(tmp_path_factory.mktemp("host-server"), config)
    server.start()
    try:
        yield server
    finally:
        server.close()
        destroy_workers(state)
