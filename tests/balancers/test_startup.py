"""A balancer scalehook cannot use stops ``scalehook serve`` at start, naming the setting;
nothing is started (no replica runs) when it does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from scalehook.testing import free_port
from tests.balancers.haproxy import HAProxy
from tests.conftest import processes_named
from tests.upgrades.helpers import release_service


def serve(workdir: Path, balancer: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """Run ``scalehook serve`` until it exits (it should, at once)."""
    workdir.mkdir(parents=True, exist_ok=True)
    marker = f"marker-{workdir.name}"
    service = release_service(replicas=1, env={"MARKER": marker})
    service["command"] = [*service["command"], marker]
    config = {"services": {"web": service}, "balancers": {"edge": balancer}}
    (workdir / "scalehook.yaml").write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "scalehook",
            "serve",
            "-c",
            str(workdir / "scalehook.yaml"),
            "--port",
            str(free_port()),
            "--data-dir",
            str(workdir / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"SCALEHOOK_ADMIN_TOKEN": "t" * 32, "PATH": "/usr/bin:/bin", "HOME": str(workdir)},
        cwd=workdir,
    )
    assert not processes_named(marker), "a replica was started"
    return done


@pytest.mark.parametrize(
    ("where", "says"),
    [
        ("missing", "balancers.edge.haproxy.socket: cannot reach HAProxy at {path}: No such file"),
        ("user", "balancers.edge.haproxy.socket: HAProxy's socket {path} is at level 'user'"),
    ],
)
def test_an_unreachable_or_non_admin_socket_is_a_start_up_error(
    haproxy: HAProxy, tmp_path: Path, where: str, says: str
) -> None:
    path = tmp_path / "no.sock" if where == "missing" else haproxy.user_socket
    done = serve(
        tmp_path / "scalehook",
        {"haproxy": {"socket": str(path)}, "services": {"web": {"backend": "web_be"}}},
    )
    assert done.returncode == 1, done.stderr
    assert f"scalehook: {says.format(path=path)}" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unreachable_tcp_socket_names_its_own_setting(tmp_path: Path) -> None:
    port = free_port()
    done = serve(
        tmp_path / "scalehook",
        {"haproxy": {"tcp": f"127.0.0.1:{port}"}, "services": {"web": {"backend": "web_be"}}},
    )
    assert done.returncode == 1
    assert (
        f"scalehook: balancers.edge.haproxy.tcp: cannot reach HAProxy at 127.0.0.1:{port}: "
        "Connection refused" in done.stderr
    )


def test_a_backend_haproxy_does_not_have_is_named(haproxy: HAProxy, tmp_path: Path) -> None:
    done = serve(
        tmp_path / "scalehook",
        {
            "haproxy": {"socket": str(haproxy.socket)},
            "services": {"web": {"backend": "web_be"}, "api": {"backend": "api_be"}},
        },
    )
    assert done.returncode == 1
    assert (
        f"scalehook: balancers.edge.services.api.backend: HAProxy at {haproxy.socket} has no "
        "backend 'api_be'" in done.stderr
    )
    assert haproxy.ours() == {}
