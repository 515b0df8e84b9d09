"""``/metrics`` of a real scalehook: process and platform collectors, build info, replica
counts with their freshness, rollouts (in progress, and their own histogram), and a list
of services that cannot be read never looking empty."""

from __future__ import annotations

import platform
import subprocess
import sys

import httpx
from prometheus_client.parser import text_string_to_metric_families

from scalehook import __version__
from scalehook.testing import ServerProcess, wait_until
from tests.conftest import ServerFactory, web_service
from tests.upgrades.helpers import finished, hook, release_service, upgrade_receiver

MISSING_ENGINE = "unix:///nonexistent/docker.sock"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


PROMETHEUS_SCRAPE_TIMEOUT = 10.0


def scrape(server: ServerProcess) -> Samples:
    """As Prometheus scrapes by default: an answer within 10 s, or the target is down."""
    response = httpx.get(f"{server.url}/metrics", timeout=PROMETHEUS_SCRAPE_TIMEOUT)
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_process_platform_build_and_service_counts(make_server: ServerFactory) -> None:
    server = make_server({"services": {"web": web_service(replicas=2)}})
    server.wait_for("web", ready=2)
    samples = scrape(server)
    python = platform.python_version()
    assert value(samples, "scalehook_build_info", version=__version__, python=python) == 1
    assert (value(samples, "process_resident_memory_bytes") or 0) > 0
    assert (value(samples, "process_open_fds") or 0) > 0
    assert any(name == "python_info" for name, _ in samples)
    assert value(samples, "scalehook_service_desired_replicas", backend="local", service="web") == 2
    assert value(samples, "scalehook_service_ready_replicas", backend="local", service="web") == 2
    assert value(samples, "scalehook_backend_up", backend="local") == 1
    age = value(samples, "scalehook_service_counts_age_seconds", backend="local")
    assert age is not None and 0 <= age < 60
    server.client.post("/v1/services/web/scale", json={"replicas": 3}).raise_for_status()
    fresh = scrape(server)  # read again for this scrape: the new count at once
    assert value(fresh, "scalehook_service_desired_replicas", backend="local", service="web") == 3


def test_rollouts_in_progress_and_their_durations(make_server: ServerFactory) -> None:
    server = make_server({"services": {"shop": release_service("acme/app:1", replicas=2)}})
    server.wait_for("shop", ready=2)
    assert value(scrape(server), "scalehook_rollouts_in_progress") == 0
    receiver = upgrade_receiver(server, "deploy", batch_interval="2s")
    started = hook(receiver["url"], {"image": "acme/app:2"})
    assert started.status_code == 202, started.text
    wait_until(
        lambda: value(scrape(server), "scalehook_rollouts_in_progress") == 1,
        timeout=30,
        what="the rollout counted as in progress",
    )
    done = finished(server, started.json()["id"])
    assert done["result"] == "upgraded"
    samples = scrape(server)
    assert value(samples, "scalehook_rollouts_in_progress") == 0
    count = "scalehook_rollout_duration_seconds_count"
    assert value(samples, count, result="upgraded") == 1
    assert value(samples, "scalehook_rollout_duration_seconds_bucket", result="upgraded",
                 le="3600.0") == 1  # fmt: skip
    assert value(samples, "scalehook_rollout_duration_seconds_bucket", result="upgraded",
                 le="1.0") == 0  # fmt: skip  # it took over a batch interval
    # the execution histogram (up to 10 s) no longer holds rollouts, only quick actions
    assert value(samples, "scalehook_execution_duration_seconds_count", driver="serviceUpgrade") \
        is None  # fmt: skip
    assert value(samples, "scalehook_triggers_total", receiver="deploy", driver="serviceUpgrade",
                 result="upgraded") == 1  # fmt: skip


def test_a_backend_that_cannot_be_read_is_named_never_an_empty_list(
    make_server: ServerFactory,
) -> None:
    both = make_server(
        {
            "backends": {
                "here": {"type": "local"},
                "box": {"type": "docker", "docker_host": MISSING_ENGINE},
            },
            "services": {"web": web_service()},
        },
        name="both",
    )
    listed = both.client.get("/v1/services")
    assert listed.status_code == 200
    assert [s["ref"] for s in listed.json()] == ["here/web"]
    assert listed.headers["x-unavailable-backends"] == "box"
    samples = scrape(both)
    assert value(samples, "scalehook_backend_up", backend="box") == 0
    assert value(samples, "scalehook_backend_up", backend="here") == 1
    assert value(samples, "scalehook_service_counts_age_seconds", backend="box") is None
    assert not [k for k in samples if dict(k[1]).get("backend") == "box" and "replicas" in k[0]]
    cli = subprocess.run(
        [sys.executable, "-m", "scalehook", "services", "list"],
        env={**both.env(), "SCALEHOOK_URL": both.url, "SCALEHOOK_TOKEN": both.token},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    assert "here/web" in cli.stdout
    assert "these backends could not be read: box" in cli.stderr

    alone = make_server({"backend": "docker", "docker_host": MISSING_ENGINE}, name="alone")
    answer = alone.client.get("/v1/services")
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"] == "backend_unavailable"
    assert "/nonexistent/docker.sock" in answer.json()["message"]
