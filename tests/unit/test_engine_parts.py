"""The pure parts of the engine backends: addresses, grouping, cloning, stats, config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scalehook.backends.docker import DockerSettings
from scalehook.backends.docker.clone import plan_replica
from scalehook.backends.docker.groups import (
    COMPOSE_NUMBER,
    COMPOSE_ONEOFF,
    COMPOSE_PROJECT,
    COMPOSE_SERVICE,
    REPLICA_LABEL,
    SERVICE_LABEL,
    SWARM_TASK,
    Container,
    find,
    group,
    names,
)
from scalehook.backends.engine.address import EngineAddressError, resolve_address
from scalehook.backends.kinds import LocalSettings
from scalehook.backends.swarm import SwarmSettings
from scalehook.config import ConfigError, Settings, load_settings
from scalehook.errors import InvalidRequest, ServiceNotFound


def test_engine_address_follows_the_docker_cli_conventions(tmp_path: Path) -> None:
    default = resolve_address(None, None, env={})
    assert (default.uds, default.display) == ("/var/run/docker.sock", "unix:///var/run/docker.sock")
    from_env = resolve_address(None, None, env={"DOCKER_HOST": "unix:///tmp/d.sock"})
    assert from_env.uds == "/tmp/d.sock"
    setting_wins = resolve_address("tcp://10.0.0.5", None, env={"DOCKER_HOST": "unix:///x"})
    assert (setting_wins.base_url, setting_wins.tls) == ("http://10.0.0.5:2375", None)
    tls = resolve_address(
        "tcp://10.0.0.5", None, env={"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(tmp_path)}
    )
    assert tls.base_url == "https://10.0.0.5:2376" and tls.tls is not None
    assert resolve_address("tcp://[::1]:2376", None, env={}).base_url == "http://[::1]:2376"
    with pytest.raises(EngineAddressError, match="not supported"):
        resolve_address(None, None, env={"DOCKER_HOST": "ssh://me@box"})
    (tmp_path / "ca.pem").write_text("not a certificate")
    with pytest.raises(EngineAddressError, match="TLS files"):
        resolve_address(
            "tcp://h", None, env={"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(tmp_path)}
        )


def row(
    name: str,
    labels: dict[str, str],
    *,
    created: int = 1,
    state: str = "running",
    status: str = "Up",
) -> Any:
    return {
        "Id": name * 8,
        "Names": [f"/{name}"],
        "Image": "img:1",
        "Labels": labels,
        "State": state,
        "Status": status,
        "Created": created,
    }


def test_containers_group_into_services_by_label() -> None:
    containers = [
        Container.of(row("a1", {SERVICE_LABEL: "api", REPLICA_LABEL: "2", "tier": "x"}, created=5)),
        Container.of(row("a2", {SERVICE_LABEL: "api", REPLICA_LABEL: "1"}, created=5)),
        Container.of(
            row("w1", {COMPOSE_PROJECT: "p", COMPOSE_SERVICE: "web", COMPOSE_NUMBER: "1"})
        ),
        Container.of(row("w9", {COMPOSE_PROJECT: "q", COMPOSE_SERVICE: "web"})),
        Container.of(
            row("run", {COMPOSE_PROJECT: "p", COMPOSE_SERVICE: "web", COMPOSE_ONEOFF: "True"})
        ),
        Container.of(row("task", {SERVICE_LABEL: "api", SWARM_TASK: "t1"})),
        Container.of(row("gone", {SERVICE_LABEL: "api"}, state="removing")),
        Container.of(row("sick", {SERVICE_LABEL: "db"}, status="Up 3 seconds (unhealthy)")),
    ]
    groups = group(containers)
    listed = names(groups)
    assert sorted(listed) == ["api", "db", "p.web", "q.web"]
    api = listed["api"]
    assert [c.name for c in api.containers] == ["a2", "a1"]  # same second: by number
    assert api.labels == {SERVICE_LABEL: "api", "tier": "x"}  # no per-replica labels
    db = listed["db"].state(name="db", backend="docker")
    assert (db.desired, db.running, db.ready) == (1, 1, 0)
    assert find(groups, "p.web", backend="docker")[0] == "p.web"
    with pytest.raises(InvalidRequest, match=r"p\.web, q\.web"):
        find(groups, "web", backend="docker")
    with pytest.raises(ServiceNotFound):
        find(groups, "nope", backend="docker")
    only_p = group(c for c in containers if c.name != "w9")
    assert find(only_p, "web", backend="docker")[0] == "web"
    assert find(only_p, "p.web", backend="docker")[0] == "web"  # one lock, however named


def test_a_clone_takes_the_service_and_leaves_the_container() -> None:
    original: Any = {
        "Id": "0123456789abcdef",
        "Name": "/shop-web-2",
        "Image": "sha256:feed",
        "Config": {
            "Hostname": "0123456789ab",
            "Image": "shop/web:1",
            "Env": ["A=1"],
            "Cmd": ["serve"],
            "Labels": {COMPOSE_PROJECT: "shop", COMPOSE_NUMBER: "2"},
            "Healthcheck": {"Test": ["CMD", "true"]},
            "MacAddress": "02:42:ac:11:00:02",
        },
        "HostConfig": {
            "NetworkMode": "shop_default",
            "Memory": 1024,
            "Links": ["/db:/shop-web-2/db"],
            "PortBindings": {
                "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
                "81/tcp": [{"HostIp": "", "HostPort": ""}],
                "82/tcp": [{"HostIp": "", "HostPort": "9000-9010"}],
            },
        },
        "NetworkSettings": {
            "Networks": {
                "shop_default": {
                    "Aliases": ["web", "shop-web-2", "0123456789ab"],
                    "IPAMConfig": {"IPv4Address": "10.0.0.9"},
                    "IPAddress": "10.0.0.9",
                    "MacAddress": "02:42:ac:11:00:02",
                    "NetworkID": "n1",
                },
                "back": {"Aliases": ["web"], "NetworkID": "n2"},
            }
        },
    }
    plan = plan_replica(
        original, name="shop-web-3", image="shop/web:1", number_label=COMPOSE_NUMBER, number=3
    )
    body = plan.body
    assert "Hostname" not in body and "MacAddress" not in body
    assert (body["Image"], body["Env"], body["Cmd"]) == ("shop/web:1", ["A=1"], ["serve"])
    assert body["Labels"] == {COMPOSE_PROJECT: "shop", COMPOSE_NUMBER: "3"}
    assert body["Healthcheck"] == {"Test": ["CMD", "true"]}
    host = body["HostConfig"]
    assert host["Memory"] == 1024 and host["Links"] == ["db:db"]
    assert host["PortBindings"] == {
        "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}],
        "81/tcp": [{"HostIp": "", "HostPort": ""}],
        "82/tcp": [{"HostIp": "", "HostPort": "9000-9010"}],
    }
    assert body["NetworkingConfig"] == {
        "EndpointsConfig": {"shop_default": {"Aliases": ["web", "shop-web-3"]}}
    }
    assert plan.more_networks == {"back": {"Aliases": ["web"]}}
    assert original["Config"]["Labels"][COMPOSE_NUMBER] == "2"  # the record is not changed

    named_host: Any = {**original, "Config": {**original["Config"], "Hostname": "db-primary"}}
    named_host["HostConfig"] = {"NetworkMode": "host"}
    plan = plan_replica(named_host, name="x", image="i", number_label=REPLICA_LABEL, number=4)
    assert plan.body["Hostname"] == "db-primary"  # set on purpose: kept
    assert "NetworkingConfig" not in plan.body and plan.more_networks == {}


def test_one_backend_or_several_in_the_config(tmp_path: Path) -> None:
    assert list(Settings.model_validate({}).backends) == ["local"]
    swarm = Settings.model_validate({"backend": "swarm", "docker_host": "tcp://m:2376"})
    assert isinstance(swarm.backends["swarm"], SwarmSettings)
    assert swarm.backends["swarm"].docker_host == "tcp://m:2376"
    several = Settings.model_validate(
        {
            "backends": {"here": {"type": "local"}, "box": {"type": "docker", "stop_grace": "2s"}},
            "services": {"web": {"command": ["x"]}},
        }
    )
    here, box = several.backends["here"], several.backends["box"]
    assert isinstance(here, LocalSettings) and list(here.services) == ["web"]
    assert isinstance(box, DockerSettings) and box.stop_grace == 2.0

    for raw, message in [
        ("backend: docker\nservices: {web: {command: [x]}}", "run both, name them under"),
        ("backend: swarm\nbackends: {a: {type: swarm}}", "not both"),
        ("backends: {Box: {type: docker}}", "backend name 'Box'"),
        (
            "backends: {a: {type: docker}, b: {type: swarm}}\nservices: {w: {command: [x]}}",
            "type local",
        ),
        ("docker_host: tcp://h:1", "docker_host and docker_tls go with"),
        ("backend: docker\ndocker_host: ssh://h", "not supported"),
        ("backends: {a: {type: nomad}}", "backends.a"),
        (
            "backends: {a: {type: local, services: {w: {command: [x], port: 9}}},"
            " b: {type: local, services: {v: {command: [y], port: 9}}}}",
            "both want port 9",
        ),
    ]:
        path = tmp_path / "scalehook.yaml"
        path.write_text(raw)
        with pytest.raises(ConfigError, match=message):
            load_settings(path)
