"""The network of netns hosts: a bridge on a private subnet, one namespace per host
joined to it by a veth pair, and addresses given out from a pool.

A Swarm manager on this machine that advertises 127.0.0.1 cannot be reached from a
namespace (its 127.0.0.1 is its own), so ``reach_host_loopback`` sends the Swarm ports
of 127.0.0.1 to the bridge's address, which is this machine.
"""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
from collections.abc import Iterable
from pathlib import Path

from scalehook.errors import BackendError, InvalidRequest

NETNS_DIR = Path("/var/run/netns")
SWARM_TCP_PORTS = (2377, 7946)  # cluster management, node gossip
SWARM_UDP_PORT = 7946  # node gossip
IPTABLES = ("iptables", "-w")
"""``-w``: wait for the xtables lock (a Docker engine on this machine changes its rules
too; without it a change made at the same moment fails at once)."""


async def run(*argv: str, check: bool = True) -> str:
    """Run a command; with ``check``, a failure is a ``BackendError`` with its stderr."""
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


async def _status(*argv: str) -> int:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    return await process.wait()


def namespace_path(namespace: str) -> Path:
    return NETNS_DIR / namespace


def is_loopback(manager: str) -> bool:
    """Is this ``host:port`` of a Swarm manager on a loopback address?"""
    try:
        return ipaddress.ip_address(manager.rsplit(":", 1)[0].strip("[]")).is_loopback
    except ValueError:
        return False


class Network:
    """The bridge ``bridge`` on ``subnet`` (its first address is the bridge's own);
    hosts get addresses from ``pool``, a part of the subnet (default all of it)."""

    def __init__(self, *, bridge: str, subnet: str, pool: str | None) -> None:
        self.bridge = bridge
        self.subnet = ipaddress.ip_network(subnet)
        self.gateway = next(self.subnet.hosts())
        self.pool = ipaddress.ip_network(pool) if pool else self.subnet
        if not self.pool.subnet_of(self.subnet):  # type: ignore[arg-type]
            raise InvalidRequest(f"pool {self.pool} is not inside subnet {self.subnet}")

    def allocate(self, used: Iterable[str]) -> ipaddress.IPv4Address:
        """The first address of the pool that neither a host nor the bridge has."""
        taken = {ipaddress.ip_address(a) for a in used} | {self.gateway}
        for candidate in self.pool.hosts() if self.pool.num_addresses > 2 else self.pool:
            if candidate not in taken:
                assert isinstance(candidate, ipaddress.IPv4Address)
                return candidate
        raise BackendError(f"no free address left in {self.subnet}")

    def _veth(self, address: ipaddress.IPv4Address) -> tuple[str, str]:
        index = int(address) - int(self.subnet.network_address)
        return f"{self.bridge}h{index}", f"{self.bridge}c{index}"

    async def ensure_bridge(self) -> None:
        if not Path(f"/sys/class/net/{self.bridge}").exists():
            await run("ip", "link", "add", self.bridge, "type", "bridge")
            prefix = self.subnet.prefixlen
            await run("ip", "addr", "add", f"{self.gateway}/{prefix}", "dev", self.bridge)
        await run("ip", "link", "set", self.bridge, "up")
        if shutil.which("iptables"):
            # A Docker engine on this machine sets FORWARD to DROP; bridged traffic between
            # the hosts must still pass.
            rule = ["FORWARD", "-i", self.bridge, "-o", self.bridge, "-j", "ACCEPT"]
            if await _status(*IPTABLES, "-C", *rule) != 0:
                await run(*IPTABLES, "-I", *rule[:1], "1", *rule[1:])

    async def make_namespace(self, namespace: str, address: ipaddress.IPv4Address) -> None:
        """A namespace whose ``eth0`` has ``address`` on the bridge, routed through it."""
        outside, inside = self._veth(address)
        await run("ip", "netns", "add", namespace)
        await run("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
        await run("ip", "link", "set", inside, "netns", namespace)
        await run("ip", "link", "set", outside, "master", self.bridge, "up")
        ns = ["ip", "-n", namespace]
        await run(*ns, "link", "set", inside, "name", "eth0")
        await run(*ns, "addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", "eth0")
        await run(*ns, "link", "set", "eth0", "up")
        await run(*ns, "link", "set", "lo", "up")
        await run(*ns, "route", "add", "default", "via", str(self.gateway))

    async def reach_host_loopback(self, namespace: str, address: str) -> None:
        """Inside ``namespace``, send what goes to 127.0.0.1's Swarm ports to this machine."""
        inside = ["nsenter", f"--net={namespace_path(namespace)}"]
        await run(*inside, "sysctl", "-q", "-w", "net.ipv4.conf.all.route_localnet=1")
        nat = [*inside, *IPTABLES, "-t", "nat", "-A"]
        to = ["-j", "DNAT", "--to-destination", str(self.gateway)]
        await run(*nat, "OUTPUT", "-d", "127.0.0.1/32", "-p", "tcp", "-m", "multiport",
                  "--dports", ",".join(map(str, SWARM_TCP_PORTS)), *to)  # fmt: skip
        await run(*nat, "OUTPUT", "-d", "127.0.0.1/32", "-p", "udp",
                  "--dport", str(SWARM_UDP_PORT), *to)  # fmt: skip
        await run(*nat, "POSTROUTING", "-s", "127.0.0.1/32", "-o", "eth0",
                  "-j", "SNAT", "--to-source", address)  # fmt: skip

    def loopback_managers(self, managers: Iterable[str]) -> list[str]:
        """The bridge-side addresses of the managers that advertise a loopback address."""
        return [f"{self.gateway}:{m.rsplit(':', 1)[1]}" for m in managers if is_loopback(m)]

    async def remove_namespace(self, namespace: str, address: str | None) -> None:
        """Delete the namespace and its veth pair, whichever of them exist."""
        if namespace_path(namespace).exists():
            await run("ip", "netns", "del", namespace, check=False)
        if address:
            outside, _ = self._veth(ipaddress.IPv4Address(address))
            if Path(f"/sys/class/net/{outside}").exists():
                await run("ip", "link", "del", outside, check=False)
