"""``scalehook services resources`` and ``scalehook nodes``, run as real commands
against a real server on the local backend; the limits are read back from the kernel's
cgroup files of each replica process, not from scalehook's answer."""

from __future__ import annotations

import json
import re
from pathlib import Path

from scalehook.testing import ServerProcess
from tests.cli.test_cli import run
from tests.conftest import ServerFactory, replica_processes, web_service

MIB = 1024 * 1024


def cgroup_limits(pid: int) -> tuple[float | None, int | None] | None:
    """(cores, memory bytes) the kernel holds ``pid`` to, from its cgroups; None when
    neither controller is a hierarchy the test can read."""
    paths: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") or [""]:
            paths[controller] = path
    if "memory" in paths and "cpu" in paths:  # v1
        memory_dir = Path("/sys/fs/cgroup/memory" + paths["memory"])
        cpu_dir = Path("/sys/fs/cgroup/cpu" + paths["cpu"])
        quota = int((cpu_dir / "cpu.cfs_quota_us").read_text())
        period = int((cpu_dir / "cpu.cfs_period_us").read_text())
        memory = int((memory_dir / "memory.limit_in_bytes").read_text())
        return (None if quota < 0 else quota / period, None if memory >= 2**62 else memory)
    if "" in paths:  # v2
        folder = Path("/sys/fs/cgroup" + paths[""])
        quota_text, period_text = (folder / "cpu.max").read_text().split()
        memory_text = (folder / "memory.max").read_text().strip()
        cores = None if quota_text == "max" else int(quota_text) / int(period_text)
        return cores, None if memory_text == "max" else int(memory_text)
    return None


def replica_limits(server: ServerProcess) -> list[tuple[float | None, int | None] | None]:
    return [cgroup_limits(p.pid) for p in replica_processes(server) if p.ppid() == server.pid]


def test_resources_are_shown_and_set_through_the_cli_and_held_by_the_kernel(
    make_server: ServerFactory,
) -> None:
    server = make_server({"services": {"web": web_service(replicas=2)}})
    server.wait_for("web", ready=2)
    shown = json.loads(run(server, "services", "resources", "web", "--json").stdout)
    assert (shown["cpus"], shown["memory"]) == (None, None)
    enforced = shown["enforced"]
    assert enforced in ("cgroup2", "cgroup1", "none")

    table = run(server, "services", "resources", "web", "--cpus", "0.5", "--memory", "96Mi")
    assert "updated" in table.stdout and "local/web" in table.stdout
    after = json.loads(run(server, "services", "resources", "web", "--json").stdout)
    assert (after["cpus"], after["memory"], after["memory_text"]) == (0.5, 96 * MIB, "96Mi")
    if enforced == "none":
        assert after["note"], "an unenforced limit says why"
    else:
        assert replica_limits(server) == [(0.5, 96 * MIB)] * 2

    kept = json.loads(
        run(server, "services", "resources", "web", "--cpus", "none", "--json").stdout
    )
    assert kept["result"] == "updated"
    recorded = kept["details"]["resources"]  # the limits set, and those replaced
    assert (recorded["cpus"], recorded["memory"]) == (None, 96 * MIB)
    assert (recorded["previous"]["cpus"], recorded["previous"]["memory"]) == (0.5, 96 * MIB)
    if enforced != "none":
        assert replica_limits(server) == [(None, 96 * MIB)] * 2

    bad = run(server, "services", "resources", "web", "--memory", "lots", ok=False)
    assert bad.returncode == 1 and "422" in bad.stderr and "memory" in bad.stderr
    assert "Traceback" not in bad.stderr
    history = json.loads(run(server, "executions", "--service", "web", "--json").stdout)
    assert [e["details"]["change"] for e in history] == ["resources", "resources"]


def test_nodes_through_the_cli(make_server: ServerFactory) -> None:
    server = make_server(
        {
            "backends": {"local": {"type": "local", "max_replicas": 5, "cgroups": "none"}},
            "services": {"web": web_service(replicas=2)},
        }
    )
    server.wait_for("web", running=2)
    (node,) = json.loads(run(server, "nodes", "--json").stdout)
    assert (node["replicas"], node["max_replicas"], node["free"], node["bound"]) == (
        2,
        5,
        3,
        "setting",
    )
    header, line = run(server, "nodes").stdout.splitlines()[:2]
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    cells = {
        header[a:b].strip(): line[a:b].strip()
        for a, b in zip(starts, [*starts[1:], None], strict=True)
    }
    assert (cells["BACKEND"], cells["KIND"], cells["BOUND"]) == ("local", "local", "setting")
    assert (cells["REPLICAS"], cells["MAX"], cells["FREE"]) == ("2", "5", "3")
    assert cells["MEMORY"].endswith("Gi") and "web" in cells["SERVICES"]
