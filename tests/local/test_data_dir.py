"""One data dir, one scalehook: a second ``serve`` on it refuses at once, touching nothing."""

from __future__ import annotations

import subprocess
import sys

import httpx

from scalehook.testing import free_port
from tests.conftest import ServerFactory, replica_processes, web_service


def test_a_second_serve_on_the_same_data_dir_refuses_and_leaves_the_first_alone(
    make_server: ServerFactory,
) -> None:
    service = web_service(replicas=2)
    first = make_server({"services": {"web": service}})
    first.wait_for("web", ready=2)
    pids = sorted(p.pid for p in replica_processes(first))
    assert len(pids) == 2

    second = subprocess.run(
        [
            sys.executable, "-m", "scalehook", "serve",
            "-c", str(first.config_path),
            "--port", str(free_port()),
            "--data-dir", str(first.data_dir),
        ],
        env=first.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip

    assert second.returncode != 0
    assert f"data dir {first.data_dir} is in use by scalehook pid {first.pid}" in second.stderr, (
        second.stderr
    )
    assert "left running by an earlier run" not in second.stderr
    assert sorted(p.pid for p in replica_processes(first)) == pids  # not a replica touched
    assert httpx.get(f"http://127.0.0.1:{service['port']}/", timeout=5).status_code == 200
    assert first.service("web")["ready"] == 2


def test_the_lock_goes_with_the_process_so_a_restart_after_kill_9_starts(
    make_server: ServerFactory,
) -> None:
    server = make_server({"services": {"web": web_service()}})
    server.kill()
    server.start()  # the kernel dropped the dead holder's lock
    server.wait_for("web", ready=1)
