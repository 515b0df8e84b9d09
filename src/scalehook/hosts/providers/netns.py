"""``netns``: a host is a Docker engine in its own network namespace on this machine.

It gives a real multi-node Swarm on one Linux machine (as root), for tests and demos.
Each host gets a namespace ``<prefix>-<name>`` with a veth pair on a bridge in a
private subnet, its own UTS namespace (so its hostname, and so its node name, is its
own), and a ``dockerd`` with its own data and exec roots, no default bridge and no
iptables. The manager's images are loaded into it, then it joins the Swarm as a worker.

``ip netns exec`` would hide the host's cgroup mounts from dockerd, so the engine is
started with ``nsenter --net=/var/run/netns/NAME``. Engines are started detached: they
are hosts, and outlive a restart of scalehook; the state file lets a new scalehook
find (and destroy) them.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import ipaddress
import json
import logging
import os
import re
import shutil
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from pydantic import BaseModel, ConfigDict, Field, field_validator

from scalehook.domain.durations import Duration
from scalehook.errors import BackendError, BackendUnsupported, InvalidRequest, ScalehookError
from scalehook.hosts.engine import Engine
from scalehook.hosts.providers.base import JoinSpec, ProviderHost

log = logging.getLogger(__name__)

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
NETNS_DIR = Path("/var/run/netns")
SWARM_TCP_PORTS = (2377, 7946)  # cluster management, node gossip
EXEC_BASE = Path("/run/scalehook")


class NetnsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prefix: str = Field(default="shk", pattern=r"^[a-z][a-z0-9]{0,7}$")
    bridge: str = Field(default="shk0", pattern=r"^[a-z][a-z0-9]{0,8}$")
    subnet: str = "10.213.0.0/24"
    pool: str | None = Field(
        default=None, description="part of the subnet to give hosts addresses from (default all)"
    )
    images: list[str] = Field(default_factory=lambda: ["*"], description="tags to load")
    dockerd: str = "dockerd"
    start_timeout: Duration = 60.0
    state_dir: Path | None = None

    @field_validator("subnet")
    @classmethod
    def _subnet(cls, value: str) -> str:
        network = ipaddress.ip_network(value)
        if not network.is_private or network.version != 4 or network.num_addresses < 4:
            raise ValueError("use a private IPv4 range of at least 4 addresses")
        return str(network)

    @field_validator("pool")
    @classmethod
    def _pool(cls, value: str | None) -> str | None:
        return None if value is None else str(ipaddress.ip_network(value))


async def run(*argv: str, check: bool = True) -> str:
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if check and process.returncode != 0:
        raise BackendError(f"{' '.join(argv[:3])}: {err.decode(errors='replace').strip()}")
    return out.decode(errors="replace")


class NetnsProvider:
    def __init__(self, settings: NetnsSettings, *, manager: Engine | None, data_dir: Path) -> None:
        self.settings = settings
        self._manager = manager
        self._dir = settings.state_dir or data_dir / "hosts" / "netns"
        self._state_path = self._dir / "hosts.json"
        self._network = ipaddress.ip_network(settings.subnet)
        self._gateway = next(self._network.hosts())
        self._pool = ipaddress.ip_network(settings.pool) if settings.pool else self._network
        if not self._pool.subnet_of(self._network):  # type: ignore[arg-type]
            raise InvalidRequest(f"pool {self._pool} is not inside subnet {self._network}")
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return "netns"

    async def start(self) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)

    async def close(self) -> None:
        return None

    # state -----------------------------------------------------------------------

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            hosts: dict[str, dict[str, Any]] = json.loads(self._state_path.read_text())["hosts"]
            return hosts
        except FileNotFoundError:
            return {}
        except (ValueError, KeyError, TypeError) as exc:
            raise BackendError(f"netns state {self._state_path} is unreadable: {exc}") from exc

    def _save(self, hosts: dict[str, dict[str, Any]]) -> None:
        tmp = self._state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"hosts": hosts}, indent=1, sort_keys=True))
        os.replace(tmp, self._state_path)

    def _paths(self, name: str) -> tuple[str, Path, Path]:
        namespace = f"{self.settings.prefix}-{name}"
        return namespace, self._dir / name, EXEC_BASE / namespace

    def _engine(self, name: str) -> Engine:
        _, _, exec_dir = self._paths(name)
        return Engine(f"unix://{exec_dir}/docker.sock", timeout=60)

    # listing ---------------------------------------------------------------------

    async def list(self) -> list[ProviderHost]:
        return [self._host(name, record) for name, record in sorted(self._load().items())]

    def _host(self, name: str, record: dict[str, Any]) -> ProviderHost:
        _, _, exec_dir = self._paths(name)
        pid = _read_pid(exec_dir / "docker.pid")
        state = record.get("state", "running")
        if state == "running" and (pid is None or not _alive(pid)):
            state = "stopped"
        return ProviderHost(
            provider=self.name,
            id=record["namespace"],
            name=name,
            state=state,
            created=datetime.fromisoformat(record["created"]),
            address=record["address"],
            node_id=record.get("node_id"),
            labels=dict(record.get("labels") or {}),
            error=record.get("error"),
        )

    # create ----------------------------------------------------------------------

    async def create(
        self,
        *,
        name: str,
        like: ProviderHost | None,
        labels: Mapping[str, str],
        join: JoinSpec,
    ) -> ProviderHost:
        managers = list(join.managers)
        loopback = [m for m in managers if _is_loopback(m)]

        async def join_swarm(engine: Engine, address: str) -> str | None:
            remotes = managers
            if loopback:
                # A manager on this machine advertising 127.0.0.1 (a one-node Swarm made
                # with --advertise-addr 127.0.0.1): inside the namespace, send what goes
                # to 127.0.0.1's Swarm ports to the bridge's address, which is this
                # machine, and join through it.
                await self._reach_host_loopback(name, address)
                remotes = [f"{self._gateway}:{m.rsplit(':', 1)[1]}" for m in loopback]
            await self._load_images(engine)
            await engine.post(
                "/swarm/join",
                {
                    "ListenAddr": f"{address}:2377",
                    "AdvertiseAddr": address,
                    "RemoteAddrs": remotes,
                    "JoinToken": join.token,
                },
            )
            info = await engine.get("/info")
            node_id = info.get("Swarm", {}).get("NodeID")
            return str(node_id) if node_id else None

        return await self.create_engine(name, labels=labels, then=join_swarm)

    async def create_engine(
        self,
        name: str,
        *,
        labels: Mapping[str, str] | None = None,
        then: Callable[[Engine, str], Awaitable[str | None]] | None = None,
    ) -> ProviderHost:
        """Make the namespace and start its engine; ``then`` finishes the job (joins)."""
        if not NAME.match(name):
            raise InvalidRequest(f"host name {name!r}: use lower-case letters, digits and '-'")
        if os.geteuid() != 0:
            raise BackendUnsupported("the netns provider needs root (network namespaces, dockerd)")
        async with self._lock:
            hosts = self._load()
            if name in hosts:
                raise BackendError(f"a netns host named {name!r} exists already")
            address = self._allocate(hosts)
            namespace, data_dir, exec_dir = self._paths(name)
            hosts[name] = {
                "namespace": namespace,
                "address": str(address),
                "created": datetime.now(UTC).isoformat(),
                "labels": dict(labels or {}),
                "state": "pending",
            }
            self._save(hosts)
        node_id: str | None = None
        try:
            await self._ensure_bridge()
            await self._make_namespace(name, address)
            await self._start_engine(name, data_dir, exec_dir)
            engine = self._engine(name)
            try:
                await self._wait_engine(engine, name, data_dir)
                if then is not None:
                    node_id = await then(engine, str(address))
            finally:
                await engine.close()
        except BaseException as exc:
            log.error("netns host %s could not be made: %s", name, _describe(exc))
            with contextlib.suppress(Exception):
                await self._teardown(name)
            async with self._lock:
                hosts = self._load()
                hosts.pop(name, None)
                self._save(hosts)
            if isinstance(exc, ScalehookError):
                raise
            if isinstance(exc, Exception):
                raise BackendError(f"netns host {name}: {_describe(exc)}") from exc
            raise
        async with self._lock:
            hosts = self._load()
            hosts[name].update(state="running", node_id=node_id)
            self._save(hosts)
            return self._host(name, hosts[name])

    async def _reach_host_loopback(self, name: str, address: str) -> None:
        namespace, _, _ = self._paths(name)
        inside = ["nsenter", f"--net={NETNS_DIR / namespace}"]
        await run(*inside, "sysctl", "-q", "-w", "net.ipv4.conf.all.route_localnet=1")
        nat = [*inside, "iptables", "-t", "nat", "-A"]
        to = ["-j", "DNAT", "--to-destination", str(self._gateway)]
        await run(*nat, "OUTPUT", "-d", "127.0.0.1/32", "-p", "tcp", "-m", "multiport",
                  "--dports", ",".join(map(str, SWARM_TCP_PORTS)), *to)  # fmt: skip
        await run(*nat, "OUTPUT", "-d", "127.0.0.1/32", "-p", "udp", "--dport", "7946", *to)
        await run(*nat, "POSTROUTING", "-s", "127.0.0.1/32", "-o", "eth0",
                  "-j", "SNAT", "--to-source", address)  # fmt: skip

    def engine_host(self, name: str) -> str:
        """The ``docker_host`` URL of a host's engine."""
        _, _, exec_dir = self._paths(name)
        return f"unix://{exec_dir}/docker.sock"

    def _allocate(self, hosts: dict[str, dict[str, Any]]) -> ipaddress.IPv4Address:
        used = {ipaddress.ip_address(r["address"]) for r in hosts.values()} | {self._gateway}
        for candidate in self._pool.hosts() if self._pool.num_addresses > 2 else self._pool:
            if candidate not in used:
                assert isinstance(candidate, ipaddress.IPv4Address)
                return candidate
        raise BackendError(f"no free address left in {self._network}")

    def _veth(self, address: ipaddress.IPv4Address) -> tuple[str, str]:
        index = int(address) - int(self._network.network_address)
        return f"{self.settings.bridge}h{index}", f"{self.settings.bridge}c{index}"

    async def _ensure_bridge(self) -> None:
        bridge = self.settings.bridge
        if not Path(f"/sys/class/net/{bridge}").exists():
            await run("ip", "link", "add", bridge, "type", "bridge")
            prefix = self._network.prefixlen
            await run("ip", "addr", "add", f"{self._gateway}/{prefix}", "dev", bridge)
        await run("ip", "link", "set", bridge, "up")
        if shutil.which("iptables"):
            # A Docker engine on this machine sets FORWARD to DROP; bridged traffic between
            # the hosts must still pass.
            rule = ["FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT"]
            if await _status("iptables", "-C", *rule) != 0:
                await run("iptables", "-I", *rule[:1], "1", *rule[1:])

    async def _make_namespace(self, name: str, address: ipaddress.IPv4Address) -> None:
        namespace, _, _ = self._paths(name)
        outside, inside = self._veth(address)
        await run("ip", "netns", "add", namespace)
        await run("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
        await run("ip", "link", "set", inside, "netns", namespace)
        await run("ip", "link", "set", outside, "master", self.settings.bridge, "up")
        ns = ["ip", "-n", namespace]
        await run(*ns, "link", "set", inside, "name", "eth0")
        await run(*ns, "addr", "add", f"{address}/{self._network.prefixlen}", "dev", "eth0")
        await run(*ns, "link", "set", "eth0", "up")
        await run(*ns, "link", "set", "lo", "up")
        await run(*ns, "route", "add", "default", "via", str(self._gateway))

    async def _start_engine(self, name: str, data_dir: Path, exec_dir: Path) -> None:
        namespace, _, _ = self._paths(name)
        data_dir.mkdir(parents=True, exist_ok=True)
        exec_dir.mkdir(parents=True, exist_ok=True)
        dockerd = [
            self.settings.dockerd,
            "--data-root", str(data_dir / "docker"),
            "--exec-root", str(exec_dir),
            "--pidfile", str(exec_dir / "docker.pid"),
            "--host", f"unix://{exec_dir}/docker.sock",
            "--bridge", "none",
            "--iptables=false",
            "--log-level", "warn",
        ]  # fmt: skip
        log_file = os.open(data_dir / "dockerd.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            # setsid -f: the engine is a host, not a child; it outlives scalehook.
            process = await asyncio.create_subprocess_exec(
                "setsid", "-f",
                "nsenter", f"--net={NETNS_DIR / namespace}",
                "unshare", "--uts",
                "/bin/sh", "-c", 'hostname "$0" && exec "$@"', name, *dockerd,
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

    async def _wait_engine(self, engine: Engine, name: str, data_dir: Path) -> None:
        deadline = time.monotonic() + self.settings.start_timeout
        while True:
            try:
                await engine.get("/_ping")
                return
            except ScalehookError as exc:
                if time.monotonic() > deadline:
                    tail = _tail(data_dir / "dockerd.log")
                    raise BackendError(
                        f"the engine of {name} did not start in "
                        f"{self.settings.start_timeout:g}s: {tail}"
                    ) from exc
            await asyncio.sleep(0.2)

    async def _load_images(self, engine: Engine) -> None:
        if self._manager is None:
            return
        images = await self._manager.get("/images/json")
        tags = sorted(
            {
                tag
                for image in images
                for tag in image.get("RepoTags") or ()
                if tag != "<none>:<none>"
                and any(fnmatch.fnmatchcase(tag, p) for p in self.settings.images)
            }
        )
        if not tags:
            return
        archive = self._manager.stream("/images/get", names=tags)
        await engine.request(
            "POST",
            "/images/load",
            params={"quiet": True},
            content=archive,
            content_type="application/x-tar",
            wait=300,
        )

    # destroy ---------------------------------------------------------------------

    async def destroy(self, *, host: ProviderHost) -> None:
        async with self._lock:
            if host.name not in self._load():
                return
        engine = self._engine(host.name)
        try:
            with contextlib.suppress(ScalehookError):
                await asyncio.wait_for(engine.post("/swarm/leave", force=True), 15)
        except TimeoutError:
            pass
        finally:
            await engine.close()
        await self._teardown(host.name)
        async with self._lock:
            hosts = self._load()
            hosts.pop(host.name, None)
            self._save(hosts)

    async def stop_engine(self, name: str) -> None:
        """Stop a host's engine but keep the host: for tests of a node going Down."""
        _, _, exec_dir = self._paths(name)
        pid = _read_pid(exec_dir / "docker.pid")
        if pid is not None:
            await _terminate(pid, grace=15)

    async def _teardown(self, name: str) -> None:
        namespace, data_dir, exec_dir = self._paths(name)
        pid = _read_pid(exec_dir / "docker.pid")
        if pid is not None:
            await _terminate(pid, grace=15)
        await _kill_namespace_processes(namespace)
        await _unmount_below(data_dir, exec_dir)
        if (NETNS_DIR / namespace).exists():
            await run("ip", "netns", "del", namespace, check=False)
        hosts = self._load()
        address = hosts.get(name, {}).get("address")
        if address:
            outside, _ = self._veth(ipaddress.IPv4Address(address))
            if Path(f"/sys/class/net/{outside}").exists():
                await run("ip", "link", "del", outside, check=False)
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(exec_dir, ignore_errors=True)


async def _status(*argv: str) -> int:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    return await process.wait()


def _is_loopback(manager: str) -> bool:
    try:
        return ipaddress.ip_address(manager.rsplit(":", 1)[0].strip("[]")).is_loopback
    except ValueError:
        return False


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


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
        inode = (NETNS_DIR / namespace).stat().st_ino
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


def _describe(exc: BaseException) -> str:
    return exc.message if isinstance(exc, ScalehookError) else f"{type(exc).__name__}: {exc}"
