"""``/metrics`` while an engine hangs: a private dockerd stopped with SIGSTOP (it accepts
connections and never answers). The scrape still answers within Prometheus's default
scrape timeout, with the engine's last counts marked stale; once the engine answers
again, so do its counts."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from scalehook.backends.docker.groups import SERVICE_LABEL
from scalehook.testing import wait_until
from tests.api.test_metrics import Samples, scrape, value
from tests.conftest import ServerFactory
from tests.docker.conftest import WEB_IMAGE, build_images
from tests.docker.engine import TEST_LABEL, Engine
from tests.docker.private_engine import PrivateEngine

pytestmark = [pytest.mark.docker]


@pytest.fixture(scope="module")
def private(engine: Engine) -> Iterator[PrivateEngine]:
    daemon = PrivateEngine()
    try:
        daemon.start()
        build_images(daemon.client)
        yield daemon
    finally:
        if daemon.process is not None and daemon.process.poll() is None:
            os.kill(daemon.process.pid, signal.SIGCONT)
        daemon.close()


def test_metrics_answer_while_the_engine_hangs(
    private: PrivateEngine, make_server: ServerFactory
) -> None:
    private.client.run(
        "hang-web-1",
        WEB_IMAGE,
        labels={SERVICE_LABEL: "hang-web", TEST_LABEL: "hang"},
        host_config={"NetworkMode": "none"},
    )
    server = make_server(
        {
            "backends": {
                "box": {"type": "docker", "docker_host": f"unix://{private.socket}"},
                "here": {"type": "local"},
            }
        }
    )
    wanted = {"backend": "box", "service": "hang-web"}
    wait_until(
        lambda: value(scrape(server), "scalehook_service_running_replicas", **wanted) == 1,
        timeout=60,
        what="the private engine's service counted",
    )
    assert private.process is not None
    os.kill(private.process.pid, signal.SIGSTOP)
    try:
        stale_age = 0.0
        for _ in range(3):  # each scrape answers; reads do not pile up on the engine
            samples = scrape(server)
            assert value(samples, "scalehook_backend_up", backend="box") == 0
            assert value(samples, "scalehook_backend_up", backend="here") == 1
            # the last counts read, marked stale by their age
            assert value(samples, "scalehook_service_desired_replicas", **wanted) == 1
            age = value(samples, "scalehook_service_counts_age_seconds", backend="box")
            assert age is not None and age > stale_age
            stale_age = age
    finally:
        os.kill(private.process.pid, signal.SIGCONT)

    def answering() -> Samples:
        samples = scrape(server)
        return samples if value(samples, "scalehook_backend_up", backend="box") == 1 else {}

    samples = wait_until(answering, timeout=60, what="the engine counted again once it answers")
    fresh = value(samples, "scalehook_service_counts_age_seconds", backend="box")
    assert fresh is not None and fresh < stale_age
    assert value(samples, "scalehook_service_running_replicas", **wanted) == 1
