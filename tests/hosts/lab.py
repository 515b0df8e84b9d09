"""A private multi-node Swarm for host tests: a manager engine in its own network
namespace (made with the netns provider's own machinery), on a bridge of its own.

It leaves the machine's main Docker engine alone, and its teardown removes every
namespace, engine, bridge and firewall rule that the tests made.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

from scalehook.backends.engine import EngineClient, resolve_address
from scalehook.hosts.providers.netns import NetnsProvider, NetnsSettings
from scalehook.hosts.providers.netns.network import IPTABLES, run
from scalehook.hosts.settings import netns_provider

# One run's names and addresses, so two runs on one machine do not collide.
RUN = random.Random(os.getpid()).randrange(10, 250)
BRIDGE = f"shkt{RUN}"
SUBNET = f"10.214.{RUN}.0/24"
MANAGER_POOL = f"10.214.{RUN}.4/30"
WORKER_POOL = f"10.214.{RUN}.64/26"
SPARE_POOL = f"10.214.{RUN}.128/30"  # room for two hosts
PREFIX = f"t{RUN}"
IMAGE = "scalehook-hosttest/bb:1"


def worker_settings(state_dir: Path) -> dict[str, Any]:
    """The netns provider settings a scalehook under test uses for its workers."""
    return {
        "prefix": PREFIX,
        "bridge": BRIDGE,
        "subnet": SUBNET,
        "pool": WORKER_POOL,
        "images": ["scalehook-hosttest/*"],
        "state_dir": str(state_dir),
    }


def _provider(settings: NetnsSettings, data_dir: Path) -> NetnsProvider:
    """The netns provider as scalehook builds it, loading no images into its hosts."""
    return netns_provider(settings, data_dir=data_dir, manager=None, load_images=False)


class SwarmLab:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.provider = _provider(
            NetnsSettings(
                prefix=PREFIX,
                bridge=BRIDGE,
                subnet=SUBNET,
                pool=MANAGER_POOL,
                state_dir=workdir / "lab",
            ),
            workdir,
        )
        self.docker_host = self.provider.engine_host("mgr-1")

    def docker(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(
            ["docker", "-H", self.docker_host, *args], capture_output=True, text=True, timeout=120
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)}: {done.stderr}")
        return done.stdout

    def client(self) -> EngineClient:
        """A client of the lab's manager engine (close it when done)."""
        return EngineClient(resolve_address(self.docker_host, None), timeout=60)

    def get(self, path: str, filters: dict[str, list[str]] | None = None) -> Any:
        async def call() -> Any:
            client = self.client()
            try:
                params = {"filters": json.dumps(filters)} if filters else None
                return await client.get(path, params=params)
            finally:
                await client.close()

        return asyncio.run(call())

    def api(self, method: str, path: str, params: dict[str, str] | None = None) -> Any:
        """One call to the lab's manager engine; its JSON answer (None when empty)."""

        async def call() -> Any:
            client = self.client()
            try:
                response = await client.request(method, path, params=params)
                return response.json() if response.content else None
            finally:
                await client.close()

        return asyncio.run(call())

    def start(self) -> SwarmLab:
        async def make() -> None:
            await self.provider.start()
            manager = await self.provider.create_engine("mgr-1")
            client = self.client()
            try:
                address = manager.address
                await client.request(
                    "POST",
                    "/swarm/init",
                    json={
                        "ListenAddr": f"{address}:2377",
                        "AdvertiseAddr": address,
                        # Notice a stopped engine within seconds, not the default ~15s.
                        "Spec": {"Dispatcher": {"HeartbeatPeriod": 1_000_000_000}},
                    },
                )
            finally:
                await client.close()

        asyncio.run(make())
        context = self.workdir / "image"
        context.mkdir(parents=True, exist_ok=True)
        shutil.copy("/bin/busybox", context / "busybox")
        (context / "Dockerfile").write_text(
            'FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT ["/bin/busybox"]\n'
            'CMD ["sleep", "3600"]\n'
        )
        self.docker("build", "-q", "-t", IMAGE, str(context))
        return self

    def nodes(self) -> list[dict[str, Any]]:
        nodes: list[dict[str, Any]] = self.get("/nodes")
        return nodes

    def tasks(self, service: str) -> list[dict[str, Any]]:
        tasks: list[dict[str, Any]] = self.get(
            "/tasks", {"service": [service], "desired-state": ["running"]}
        )
        return tasks

    def stop(self) -> None:
        async def unmake() -> None:
            for host in await self.provider.list():
                await self.provider.destroy(host=host)

        with contextlib.suppress(Exception):
            asyncio.run(unmake())


def destroy_workers(state_dir: Path, settings: dict[str, Any] | None = None) -> None:
    """Destroy every worker a scalehook under test made (by its provider state)."""

    async def unmake() -> None:
        provider = _provider(NetnsSettings(**(settings or worker_settings(state_dir))), state_dir)
        for host in await provider.list():
            await provider.destroy(host=host)

    asyncio.run(unmake())


def remove_bridge() -> None:
    run_async_remove_bridge(BRIDGE)


def run_async_remove_bridge(bridge: str) -> None:
    """Remove a bridge the netns provider made, and its firewall rule."""

    async def remove() -> None:
        rule = ["FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT"]
        await run(*IPTABLES, "-D", *rule, check=False)
        await run("ip", "link", "del", bridge, check=False)

    asyncio.run(remove())


def leftovers() -> list[str]:
    """Namespaces, links and engines of the lab still on the machine (should be none)."""
    found = []
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found += [line.split()[0] for line in names.splitlines() if line.startswith(f"{PREFIX}-")]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    found += [
        line.split(":")[1].strip().split("@")[0]
        for line in links.splitlines()
        if line.split(":")[1].strip().startswith(BRIDGE)
    ]
    engines = subprocess.run(
        ["pgrep", "-af", f"/run/scalehook/{PREFIX}-"], capture_output=True, text=True
    ).stdout
    found += [line for line in engines.splitlines() if "dockerd" in line]
    return found


def stop_worker_engine(state_dir: str | Path, name: str) -> None:
    """Stop one worker's engine, as a machine failure would: its node goes Down."""

    async def stop() -> None:
        provider = _provider(NetnsSettings(**worker_settings(Path(state_dir))), Path(state_dir))
        await provider.stop_engine(name)

    asyncio.run(stop())
