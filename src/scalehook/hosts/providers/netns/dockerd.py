"""The engine of one netns host: a ``dockerd`` started detached in its namespace, and
the state file that lets a later scalehook find (and destroy) the engines it started.

``ip netns exec`` would hide the host's cgroup mounts from dockerd, so the engine is
started with ``nsenter --net=/var/run/netns/NAME``, in a UTS namespace of its own (so
its hostname, and so its Swarm node name, is the host's name). It has its own data
and exec roots, no default bridge and no iptables. Engines outlive a restart of
scalehook: they are hosts, not children.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from scalehook.errors import BackendError, ScalehookError
from scalehook.hosts.providers.engine import HostEngine
from scalehook.hosts.providers.netns.network import namespace_path, run

EXEC_BASE = Path("/run/scalehook")
STOP_GRACE = 15.0


class StateFile:
    """``hosts.json``: each host's namespace, address, labels, state and node id."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, dict[str, Any]]:
        try:
            hosts: dict[str, dict[str, Any]] = json.loads(self.path.read_text())["hosts"]
            return hosts
        except FileNotFoundError:
            return {}
        except (ValueError, KeyError, TypeError) as exc:
            raise BackendError(f"netns state {self.path} is unreadable: {exc}") from exc

    def save(self, hosts: dict[str, dict[str, Any]]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"hosts": hosts}, indent=1, sort_keys=True))
        os.replace(tmp, self.path)


@dataclass(frozen=True, slots=True)
class Dockerd:
    """Where the engine of host ``name`` keeps its data, socket and pid file."""

    name: str
    namespace: str
    data_dir: Path
    exec_dir: Path

    @classmethod
    def of(cls, name: str, *, prefix: str, state_dir: Path) -> Dockerd:
        namespace = f"{prefix}-{name}"
        return cls(name, namespace, state_dir / name, EXEC_BASE / namespace)

    @property
    def docker_host(self) -> str:
        """The ``docker_host`` URL of this engine."""
        return f"unix://{self.exec_dir}/docker.sock"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "dockerd.log"

    def pid(self) -> int | None:
        try:
            return int((self.exec_dir / "docker.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def running(self) -> bool:
        pid = self.pid()
        return pid is not None and _alive(pid)

    async def start(self, dockerd: str) -> None:
        """Start the engine detached in the host's namespace (it is not our child)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.exec_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            dockerd,
            "--data-root", str(self.data_dir / "docker"),
            "--exec-root", str(self.exec_dir),
            "--pidfile", str(self.exec_dir / "docker.pid"),
            "--host", self.docker_host,
            "--bridge", "none",
            "--iptables=false",
            "--log-level", "warn",
        ]  # fmt: skip
        log_file = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            # setsid -f: the engine is a host, not a child; it outlives scalehook.
            process = await asyncio.create_subprocess_exec(
                "setsid", "-f",
                "nsenter", f"--net={namespace_path(self.namespace)}",
                "unshare", "--uts",
                "/bin/sh", "-c", 'hostname "$0" && exec "$@"', self.name, *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                # These engines reach no registry: run tasks from the loaded images
                # instead of trying (and timing out) to pull each one first.
                env={**os.environ, "DOCKER_SERVICE_PREFER_OFFLINE_IMAGE": "1"},
            )  # fmt: skip
            await process.wait()
        finally:
            os.close(log_file)

    async def wait(self, engine: HostEngine, *, timeout: float) -> None:
        """Return once ``engine`` (this one) answers; fail with its log's tail after
        ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                await engine.ping()
                return
            except ScalehookError as exc:
                if time.monotonic() > deadline:
                    raise BackendError(
                        f"the engine of {self.name} did not start in {timeout:g}s: "
                        f"{_tail(self.log_path)}"
                    ) from exc
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        """Stop the engine (SIGTERM, then SIGKILL after a grace period)."""
        pid = self.pid()
        if pid is not None:
            await _terminate(pid, grace=STOP_GRACE)

    async def halt(self) -> None:
        """Stop the engine and whatever else runs in the namespace; unmount its mounts."""
        await self.stop()
        await _kill_namespace_processes(self.namespace)
        await _unmount_below(self.data_dir, self.exec_dir)

    def remove_files(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)
        shutil.rmtree(self.exec_dir, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


async def _terminate(pid: int, *, grace: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _alive(pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


async def _kill_namespace_processes(namespace: str) -> None:
    """Kill what is left in the namespace (containerd shims, container processes)."""
    try:
        inode = namespace_path(namespace).stat().st_ino
    except FileNotFoundError:
        return
    victims = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if (entry / "ns" / "net").stat().st_ino == inode:
                victims.append(int(entry.name))
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in victims) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def _unmount_below(*roots: Path) -> None:
    prefixes = [str(r.resolve()) for r in roots]
    mounts = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].replace("\\040", " ")
            if any(point == p or point.startswith(p + "/") for p in prefixes):
                mounts.append(point)
    for point in sorted(mounts, key=len, reverse=True):
        await run("umount", "-l", point, check=False)


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"
