"""A real HAProxy (Debian's) for the tests: its own config, stats sockets, a frontend.

Every instance writes a config with an admin socket, a user-level socket, an admin TCP
socket, a frontend on a free port, and the backends asked for (``balance roundrobin``,
so they take dynamic servers), then runs ``haproxy -f <cfg> -db`` in the foreground.
Restarting it starts a fresh process on the same config: dynamic servers are gone, as
after any restart or reload.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from scalehook.testing import free_port, stop_process, wait_until

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


@dataclass(frozen=True, slots=True)
class Server:
    backend: str
    name: str
    address: str
    port: int
    op_state: int  # 2: running
    admin_state: int  # 0: ready; 0x01 maint; 0x08 drain

    @property
    def endpoint(self) -> str:
        return f"{self.address}:{self.port}"

    @property
    def serving(self) -> bool:
        return self.admin_state == 0 and self.op_state == 2


class HAProxy:
    def __init__(
        self,
        workdir: Path,
        *,
        backends: tuple[str, ...] = ("web_be",),
        config_servers: dict[str, str] | None = None,
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.socket = workdir / "admin.sock"
        self.user_socket = workdir / "user.sock"
        self.tcp_port = free_port()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = workdir / "haproxy.cfg"
        self.log_path = workdir / "haproxy.log"
        self.backends = backends
        self.config_servers = config_servers or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.config_path.write_text(self.config())

    def config(self) -> str:
        lines = [
            "global",
            f"    stats socket {self.socket} mode 600 level admin",
            f"    stats socket {self.user_socket} mode 600 level user",
            f"    stats socket ipv4@127.0.0.1:{self.tcp_port} level admin",
            "    stats timeout 30s",
            "defaults",
            "    mode http",
            "    timeout connect 2s",
            "    timeout client 30s",
            "    timeout server 30s",
            "frontend fe",
            f"    bind 127.0.0.1:{self.port}",
            f"    default_backend {self.backends[0]}",
        ]
        for backend in self.backends:
            lines += [f"backend {backend}", "    balance roundrobin"]
            lines += [f"    {line}" for be, line in self.config_servers.items() if be == backend]
        lines.append("backend static_be")
        lines.append("    balance static-rr")
        return "\n".join(lines) + "\n"

    def start(self) -> HAProxy:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            [HAPROXY, "-f", str(self.config_path), "-db"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        wait_until(self._answers, timeout=20, what="HAProxy's admin socket answers")
        return self

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"haproxy exited:\n{self.log_path.read_text()}")
        try:
            return self.command("show cli level").strip() == "admin"
        except OSError:
            return False

    def stop(self) -> None:
        stop_process(self.process, signal.SIGTERM, timeout=10)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def command(self, line: str, path: Path | None = None) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(path or self.socket))
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def servers(self, backend: str = "web_be") -> dict[str, Server]:
        text = self.command(f"show servers state {backend}")
        lines = [line for line in text.splitlines() if line.strip()]
        found: dict[str, Server] = {}
        for line in lines[2:]:
            fields = line.split()
            found[fields[3]] = Server(
                backend=fields[1],
                name=fields[3],
                address=fields[4],
                port=int(fields[18]),
                op_state=int(fields[5]),
                admin_state=int(fields[6]),
            )
        return found

    def ours(self, backend: str = "web_be") -> dict[str, Server]:
        return {n: s for n, s in self.servers(backend).items() if n.startswith("shk-")}

    def add_foreign(self, backend: str, name: str, endpoint: str) -> None:
        """A server scalehook did not add (an operator's), left in maintenance."""
        answer = self.command(f"add server {backend}/{name} {endpoint}")
        assert "New server registered" in answer, answer

    def close(self) -> None:
        self.stop()


def wait_for_members(
    haproxy: HAProxy, expected: dict[str, str], *, backend: str = "web_be", timeout: float = 30
) -> dict[str, Server]:
    """Wait until scalehook's servers in ``backend`` are exactly ``expected`` (server name
    → endpoint), each serving; return them."""

    def settled() -> dict[str, Server]:
        ours = haproxy.ours(backend)
        shown = {n: s.endpoint for n, s in ours.items() if s.serving}
        return ours if shown == expected and len(ours) == len(expected) else {}

    try:
        return wait_until(settled, timeout=timeout, what=f"HAProxy's {backend} holds {expected}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; it holds {haproxy.servers(backend)}") from None
