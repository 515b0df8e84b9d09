"""Load-balancer membership with HAProxy (Debian's 2.6), in one run:

- **ready → member**: from the moment a new local replica became ready (its
  ``ready_since``) to the moment HAProxy's backend lists its server as serving, when
  scalehook keeps membership through the Runtime API. Baseline: the confd way, a
  rendered ``haproxy.cfg`` checked (``haproxy -c``) and reloaded (``haproxy -sf <old
  pid>``) per change, timed from the change to the new process serving the server (its
  floor: the change is handed over at once, no watch delay counted).
- **requests failed while scaling down 4 → 1 under load** (8 keep-alive clients through
  HAProxy, the example app, which exits at once on SIGTERM): membership by scalehook
  with drain before stop, the same without drain (``drain: false``: the replica is
  removed once it stops being ready), and the confd way (a watcher reads the replicas
  every 100 ms and reloads HAProxy on a change, as the seeds' etcd + confd did).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench.common import Figure, median
from bench.servers import EXAMPLE_APP, scalehook
from scalehook.testing import ServerProcess, free_port

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
CLIENTS = 8
PACE = 0.02  # seconds between two requests of one client, at least


class Proxy:
    """One HAProxy config and the processes that ran it (a reload starts a new one)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.socket = workdir / "admin.sock"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.path = workdir / "haproxy.cfg"
        self.processes: list[subprocess.Popen[bytes]] = []

    def config(self, servers: dict[str, str]) -> str:
        lines = [
            "global",
            f"    stats socket {self.socket} mode 600 level admin",
            "defaults",
            "    mode http",
            "    timeout connect 2s",
            "    timeout client 30s",
            "    timeout server 30s",
            "frontend fe",
            f"    bind 127.0.0.1:{self.port}",
            "    default_backend web_be",
            "backend web_be",
            "    balance roundrobin",
            *(f"    server {name} {endpoint}" for name, endpoint in sorted(servers.items())),
        ]
        return "\n".join(lines) + "\n"

    def start(self, servers: dict[str, str] | None = None) -> None:
        self.path.write_text(self.config(servers or {}))
        self._run([])

    def reload(self, servers: dict[str, str]) -> None:
        """What confd's check_cmd and reload_cmd do: check the new file, then start a new
        process that tells the old ones to finish (``-sf``)."""
        self.path.write_text(self.config(servers))
        subprocess.run([HAPROXY, "-c", "-q", "-f", str(self.path)], check=True)
        old = [str(p.pid) for p in self.processes if p.poll() is None]
        self._run(["-sf", *old] if old else [])

    def _run(self, extra: list[str]) -> None:
        process = subprocess.Popen(
            [HAPROXY, "-f", str(self.path), "-db", *extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.processes.append(process)

    def command(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(str(self.socket))
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def serving(self) -> dict[str, str]:
        """Server name → endpoint of every server ready and running (the newest process)."""
        try:
            text = self.command("show servers state web_be")
        except OSError:
            return {}
        found = {}
        for line in text.splitlines()[2:]:
            fields = line.split()
            if len(fields) > 18 and fields[5] == "2" and fields[6] == "0":
                found[fields[3]] = f"{fields[4]}:{fields[18]}"
        return found

    def wait_serving(self, names: set[str], timeout: float = 60) -> float:
        """Poll every 2 ms until exactly ``names`` serve; the wall-clock time it happened."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if set(self.serving()) == names:
                return time.time()
            time.sleep(0.002)
        raise RuntimeError(f"HAProxy never served exactly {names}: {self.serving()}")

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)
            if process.poll() is None:
                process.kill()
                process.wait()


@contextlib.contextmanager
def proxy() -> Iterator[Proxy]:
    with tempfile.TemporaryDirectory() as tmp:
        running = Proxy(Path(tmp))
        try:
            yield running
        finally:
            running.close()


def service(replicas: int) -> dict[str, Any]:
    return {
        "command": ["python3", str(EXAMPLE_APP), "{port}"],
        "replicas": replicas,
        "readiness": {"http": "GET / HTTP/1.0", "interval": "100ms", "timeout": "1s"},
        "stop_grace": "5s",
    }


def config(haproxy: Proxy | None, replicas: int, **member: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {"services": {"web": service(replicas)}}
    if haproxy is not None:
        settings["balancers"] = {
            "edge": {
                "haproxy": {"socket": str(haproxy.socket)},
                "interval": "2s",
                "services": {"web": {"backend": "web_be", **member}},
            }
        }
    return settings


def scale(server: ServerProcess, replicas: int) -> None:
    server.client.post("/v1/services/web/scale", json={"replicas": replicas}).raise_for_status()


def ready_replicas(server: ServerProcess) -> dict[str, dict[str, Any]]:
    state = server.service("web")
    return {r["id"]: r for r in state["replicas"] if r["ready"] and r["state"] == "ready"}


def wait_replicas(server: ServerProcess, count: int) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = server.service("web")
        if state["ready"] == count and len(state["replicas"]) == count:
            return {r["id"]: r for r in state["replicas"]}
        time.sleep(0.02)
    raise RuntimeError(f"web never settled at {count}")


# ready -> member -------------------------------------------------------------------


def through_scalehook(runs: int) -> list[float]:
    """Milliseconds from a new replica's ready_since to its server serving in HAProxy."""
    latencies = []
    with proxy() as haproxy:
        haproxy.start()
        with scalehook(config(haproxy, 1)) as server:
            haproxy.wait_serving({"shk-web-1"})
            for _ in range(runs):
                scale(server, 2)
                member = haproxy.wait_serving({"shk-web-1", "shk-web-2"})
                since = wait_replicas(server, 2)["web-2"]["ready_since"]
                latencies.append((member - datetime.fromisoformat(since).timestamp()) * 1000)
                scale(server, 1)
                haproxy.wait_serving({"shk-web-1"})
                wait_replicas(server, 1)
    return latencies


def through_reload(runs: int) -> list[float]:
    """Milliseconds from a change (a server to add) to the reloaded HAProxy serving it."""
    latencies = []
    with contextlib.ExitStack() as stack, proxy() as haproxy:
        ports = [free_port(), free_port()]
        apps = [
            subprocess.Popen(
                ["python3", str(EXAMPLE_APP), str(port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for port in ports
        ]
        for app in apps:
            stack.callback(app.wait, 10)
            stack.callback(app.terminate)
        one = {"s1": f"127.0.0.1:{ports[0]}"}
        two = {**one, "s2": f"127.0.0.1:{ports[1]}"}
        haproxy.start(one)
        haproxy.wait_serving({"s1"})
        for _ in range(runs):
            began = time.time()
            haproxy.reload(two)
            latencies.append((haproxy.wait_serving({"s1", "s2"}) - began) * 1000)
            haproxy.reload(one)
            haproxy.wait_serving({"s1"})
    return latencies


# failed requests while scaling down --------------------------------------------------


class Load:
    """``CLIENTS`` threads sending GETs through HAProxy, keep-alive, each at most one
    every ``PACE`` seconds: a failure that comes back at once does not make the client
    send faster, so counts compare across modes."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ok = 0
        self.failed = 0
        self.kinds: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(CLIENTS)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                due = time.monotonic() + PACE
                try:
                    status = client.get(self.url).status_code
                    kind = "" if status == 200 else f"HTTP {status}"
                except httpx.HTTPError as exc:
                    kind = type(exc).__name__
                with self._lock:
                    if kind:
                        self.failed += 1
                        self.kinds[kind] += 1
                    else:
                        self.ok += 1
                self._stop.wait(max(0.0, due - time.monotonic()))


class Confd:
    """The seeds' way: watch the replicas (here scalehook's API, every 100 ms, standing
    for an etcd watch), and on a change render the config and reload HAProxy."""

    def __init__(self, server: ServerProcess, haproxy: Proxy) -> None:
        self.server = server
        self.haproxy = haproxy
        self.reloads = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._known: dict[str, str] = {}

    def servers(self) -> dict[str, str]:
        return {f"s-{rid}": r["address"] for rid, r in ready_replicas(self.server).items()}

    def start(self) -> None:
        self._known = self.servers()
        self.haproxy.reload(self._known)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(httpx.HTTPError):
                now = self.servers()
                if now != self._known:
                    self.haproxy.reload(now)
                    self._known = now
                    self.reloads += 1
            self._stop.wait(0.1)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def scale_down(mode: str) -> tuple[int, int, Counter[str]]:
    """(failed, total, failures by kind) requests through HAProxy while web goes 4 → 1
    under load."""
    with proxy() as haproxy:
        haproxy.start()  # first: its port is bound before any replica picks one
        if mode == "confd":
            cm = scalehook(config(None, 4))
        else:
            cm = scalehook(config(haproxy, 4, drain=mode == "drain"))
        with cm as server:
            four = wait_replicas(server, 4)
            confd = None
            if mode == "confd":
                confd = Confd(server, haproxy)
                confd.start()
                names = {f"s-{rid}" for rid in four}
            else:
                names = {f"shk-{rid}" for rid in four}
            haproxy.wait_serving(names)
            with Load(haproxy.url) as load:
                time.sleep(1.0)
                scale(server, 1)
                one = next(iter(wait_replicas(server, 1)))
                haproxy.wait_serving({f"{'s' if mode == 'confd' else 'shk'}-{one}"})
                time.sleep(1.0)
            if confd is not None:
                confd.stop()
            return load.failed, load.ok + load.failed, load.kinds


def run(quick: bool) -> list[Figure]:
    runs = 3 if quick else 10
    mine = through_scalehook(runs)
    reload = through_reload(runs)
    rounds = 1 if quick else 3
    modes = ("drain", "nodrain", "confd")
    failed: dict[str, list[int]] = {mode: [] for mode in modes}
    totals: dict[str, list[int]] = {mode: [] for mode in modes}
    kinds: dict[str, Counter[str]] = {mode: Counter() for mode in modes}
    for _ in range(rounds):  # interleaved, so all three see the same neighbours
        for mode in modes:
            bad, total, why = scale_down(mode)
            failed[mode].append(bad)
            totals[mode].append(total)
            kinds[mode].update(why)

    def share(mode: str) -> str:
        said = ", ".join(f"{k} {n}" for k, n in kinds[mode].most_common()) or "none"
        return f"{sum(failed[mode])} of {sum(totals[mode])} failed ({said})"

    return [
        Figure(
            "haproxy: replica ready -> serving in the backend",
            median(mine),
            "ms",
            "confd way: rendered config, haproxy -c, haproxy -sf",
            median(reload),
            runs,
            "runtime API add server + state ready, woken by the backend's change hook; "
            "baseline counts no watch delay",
        ),
        Figure(
            "haproxy: requests failed, scale-down 4->1 under load, drained",
            median(failed["drain"]),
            "req",
            "not drained (drain: false)",
            median(failed["nodrain"]),
            rounds,
            f"drained: {share('drain')}; not drained: {share('nodrain')}; {CLIENTS} clients "
            f"at most {1 / PACE:g} req/s each",
        ),
        Figure(
            "haproxy: requests failed, scale-down 4->1 under load, drained (vs confd)",
            median(failed["drain"]),
            "req",
            "confd way: reload per change (100 ms watch)",
            median(failed["confd"]),
            rounds,
            f"confd: {share('confd')}; the example app exits at once on SIGTERM",
        ),
    ]
