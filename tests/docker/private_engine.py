"""A dockerd of the test's own: stopped and started at will without touching the
machine's engine, which other tests (and other people) are using.

It gets a bridge of its own rather than ``--bridge=none``: a dockerd started with
``--bridge=none`` deletes the ``docker0`` interface, the machine engine's default bridge.
Unlike the machine's engine it is not told ``DOCKER_SERVICE_PREFER_OFFLINE_IMAGE``: made
a Swarm manager (``swarm_init``, on ports of its own), its tasks pull their images.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from scalehook.testing import free_port
from tests.docker.engine import Engine

OFFLINE = "DOCKER_SERVICE_PREFER_OFFLINE_IMAGE"


def make_certs(folder: Path) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client one, as ``docker`` wants
    them: ``ca.pem``, ``server-*.pem`` here; ``ca.pem``, ``cert.pem``, ``key.pem`` in
    the returned client folder (a ``DOCKER_CERT_PATH``)."""
    folder.mkdir(parents=True, exist_ok=True)
    client = folder / "client"
    client.mkdir(exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", "ca-key.pem", "-out", "ca.pem", "-subj", "/CN=scalehook test CA",
    )  # fmt: skip
    (folder / "server.ext").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    (folder / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for who, subject in (("server", "/CN=127.0.0.1"), ("client", "/CN=scalehook")):
        openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{who}-key.pem",
            "-out", f"{who}.csr", "-subj", subject,
        )  # fmt: skip
        openssl(
            "x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
            "-CAcreateserial", "-days", "2", "-out", f"{who}-cert.pem", "-extfile", f"{who}.ext",
        )  # fmt: skip
    shutil.copy(folder / "ca.pem", client / "ca.pem")
    shutil.copy(folder / "client-cert.pem", client / "cert.pem")
    shutil.copy(folder / "client-key.pem", client / "key.pem")
    return client


def _free_udp_port() -> int:
    """A UDP port Swarm takes for VXLAN: it must be within 1024-49151, below the range
    the kernel hands out as ephemeral ports."""
    for port in random.sample(range(20000, 49152), 200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("0.0.0.0", port))  # as VXLAN binds it
            except OSError:
                continue
            return port
    raise AssertionError("no free UDP port for the Swarm's data path")


class PrivateEngine:
    def __init__(self, *, tls_port: int | None = None, certs: Path | None = None) -> None:
        # short: containerd's socket lives under the exec root, and socket paths are short
        self.root = Path(tempfile.mkdtemp(prefix="shk-", dir="/tmp"))
        self.socket = self.root / "docker.sock"
        self.bridge = f"shkp{secrets.token_hex(3)}"  # at most 15 characters
        self.tls_port = tls_port
        self.certs = certs
        self.log = self.root / "dockerd.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.client = Engine(str(self.socket))

    def argv(self) -> list[str]:
        argv = [
            "dockerd",
            f"--data-root={self.root / 'data'}",
            f"--exec-root={self.root / 'exec'}",
            f"--pidfile={self.root / 'docker.pid'}",
            f"--host=unix://{self.socket}",
            f"--bridge={self.bridge}",
            "--iptables=false",
            "--ip6tables=false",
            "--log-level=warn",
        ]
        if self.tls_port is not None and self.certs is not None:
            argv += [
                f"--host=tcp://127.0.0.1:{self.tls_port}",
                "--tlsverify",
                f"--tlscacert={self.certs / 'ca.pem'}",
                f"--tlscert={self.certs / 'server-cert.pem'}",
                f"--tlskey={self.certs / 'server-key.pem'}",
            ]
        return argv

    def start(self, timeout: float = 90.0) -> None:
        if not Path(f"/sys/class/net/{self.bridge}").exists():
            subprocess.run(["ip", "link", "add", self.bridge, "type", "bridge"], check=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.argv(),
                env={k: v for k, v in os.environ.items() if k != OFFLINE},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self.client.up():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"private dockerd did not start:\n{self.log.read_text()}")
            time.sleep(0.1)

    def swarm_init(self) -> None:
        """Make it a one-node Swarm manager on loopback ports nobody else uses."""
        port = free_port()
        self.client.call(
            "POST",
            "/swarm/init",
            json={
                "ListenAddr": f"127.0.0.1:{port}",
                "AdvertiseAddr": f"127.0.0.1:{port}",
                "DataPathPort": _free_udp_port(),
            },
            timeout=120,
        )

    def stop(self, timeout: float = 60.0) -> None:
        """As an engine stops: SIGTERM, which stops its containers first."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def close(self) -> None:
        self.stop()
        self.client.close()
        subprocess.run(["ip", "link", "del", self.bridge], check=False, capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)
