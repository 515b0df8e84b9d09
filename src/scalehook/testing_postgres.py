"""Run a real PostgreSQL server in a temporary directory: for tests and benchmarks.

``PostgresCluster`` makes a cluster with Debian's own binaries (``initdb``, ``pg_ctl``
under ``/usr/lib/postgresql/<version>/bin``), on a free loopback port, and hands out one
database per user. Run as root, the server runs as the ``postgres`` user (PostgreSQL
refuses to run as root). scalehook connects as the role ``scalehook`` with a password,
over TCP, like a deployment does; the helper itself uses the superuser over the
cluster's own Unix socket.

``shared_cluster()`` is the one cluster of a test run that ``SCALEHOOK_TEST_DATABASE=
postgresql`` puts every ``ServerProcess`` on (each gets a database of its own).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from scalehook.testing import free_port

TEST_DATABASE_ENV = "SCALEHOOK_TEST_DATABASE"
ROLE = "scalehook"
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def binaries() -> Path:
    """The newest installed PostgreSQL's ``bin`` directory (``scripts/deps`` installs 15)."""
    root = Path("/usr/lib/postgresql")
    versions = sorted(
        (p for p in root.glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not versions:
        raise FileNotFoundError(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run scripts/deps"
        )
    return versions[-1]


class PostgresCluster:
    """One PostgreSQL server of our own: ``start``, ``url(name)``, ``stop``.

    ``durable=False`` (tests) turns off fsync and synchronous commits: the server's
    durability is not what a test checks, and the disk is shared. Benchmarks keep the
    defaults (``durable=True``), as a deployment would.
    """

    def __init__(self, *, durable: bool = False, max_connections: int = 300) -> None:
        self.bin = binaries()
        self.port = free_port()
        self.password = secrets.token_hex(16)
        self.durable = durable
        self.max_connections = max_connections
        self.root = Path(tempfile.mkdtemp(prefix="scalehook-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "run"
        self.log_path = self.root / "postgres.log"
        self._as_postgres = os.geteuid() == 0
        self._started = False

    # running -------------------------------------------------------------------------

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [*(["runuser", "-u", "postgres", "--"] if self._as_postgres else []), *args]
        done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
                f"\n{self.log()}"
            )
        return done

    def start(self) -> PostgresCluster:
        fresh = not self.data.exists()
        if fresh:
            self._init()
        self._run(
            str(self.bin / "pg_ctl"),
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(self.data),
            "-l",
            str(self.log_path),
            "-o",
            self._options(),
        )
        self._started = True
        if fresh:
            self.sql(f"CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD '{self.password}'")
        return self

    def _options(self) -> str:
        options = {
            "port": str(self.port),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.socket_dir),
            "max_connections": str(self.max_connections),
            "shared_buffers": "64MB",
        }
        if not self.durable:
            options.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        return " ".join(f"-c {key}={value}" for key, value in options.items())

    def _init(self) -> None:
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.socket_dir, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        pwfile.chmod(0o600)
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={pwfile}",
            "--no-sync",
        )
        pwfile.unlink()

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``immediate``: as if it crashed); the data stays."""
        if self._started:
            self._run(str(self.bin / "pg_ctl"), "stop", "-w", "-m", mode, "-D", str(self.data))
            self._started = False

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        done = self._run(str(self.bin / "pg_ctl"), "status", "-D", str(self.data), check=False)
        return done.returncode == 0

    def remove(self) -> None:
        """Stop the server and delete its files."""
        with contextlib.suppress(RuntimeError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except (FileNotFoundError, PermissionError):
            return ""

    # databases -----------------------------------------------------------------------

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run one statement as the superuser over the Unix socket; its output."""
        done = self._run(
            str(self.bin / "psql"),
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(self.socket_dir),
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            database,
            "-c",
            statement,
        )
        return done.stdout.strip()

    def dump(self, database: str) -> str:
        """Everything ``database`` holds, as SQL (``pg_dump``)."""
        done = self._run(
            str(self.bin / "pg_dump"),
            "-h",
            str(self.socket_dir),
            "-p",
            str(self.port),
            "-U",
            "postgres",
            database,
        )
        return done.stdout

    def create_database(self, name: str | None = None) -> str:
        """A new empty database owned by ``scalehook``; its URL."""
        name = name or f"shk_{secrets.token_hex(6)}"
        if not _NAME.match(name):
            raise ValueError(f"not a plain database name: {name!r}")
        self.sql(f"CREATE DATABASE {name} OWNER {ROLE}")
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def url(self, database: str, driver: str = "asyncpg") -> str:
        return f"postgresql+{driver}://{ROLE}:{self.password}@127.0.0.1:{self.port}/{database}"

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()


_shared: PostgresCluster | None = None


def shared_cluster() -> PostgresCluster:
    """The test run's one cluster, started on first use and removed when the process
    exits."""
    global _shared  # noqa: PLW0603 - one per process, on purpose
    if _shared is None:
        _shared = PostgresCluster().start()
        atexit.register(_shared.remove)
    return _shared


def wants_postgres() -> bool:
    """``SCALEHOOK_TEST_DATABASE=postgresql``: servers of the test run use PostgreSQL."""
    value = os.environ.get(TEST_DATABASE_ENV, "").strip().lower()
    if value in ("", "sqlite"):
        return False
    if value in ("postgresql", "postgres"):
        return True
    raise ValueError(f"{TEST_DATABASE_ENV}={value!r}: use 'sqlite' or 'postgresql'")
