"""One local replica: a child process, kept running and probed until told to stop.

The child gets its own session (so a stop reaches everything it started) and the
kernel's parent-death signal (so it dies with scalehook even on ``kill -9``). A stop
sends SIGTERM and then SIGCONT, as systemd does: a stopped (SIGSTOPped, hung) process
only acts on SIGTERM once continued; SIGKILL after the grace ends it either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from scalehook.backends.local.cgroups import CgroupError, join
from scalehook.backends.local.probe import probe
from scalehook.backends.local.spec import LocalServiceSpec

log = logging.getLogger(__name__)

_FIRST_PROBE_INTERVAL = 0.05
_MAX_BACKOFF = 30.0
_STABLE_AFTER = 10.0
_LOG_ROTATE_BYTES = 10 * 1024 * 1024
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:  # pragma: no cover - in the child, before exec
    """Ask the kernel for SIGKILL when scalehook dies. A parent that died between the
    fork and this call sends nothing, so the child checks that it still has it."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)


def _in_child(parent: int, cgroups: tuple[str, ...]) -> None:  # pragma: no cover - in the child
    """Between fork and exec: die with scalehook, and join the replica's cgroups."""
    _die_with_parent(parent)
    join(cgroups)


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def child_environment(
    spec: LocalServiceSpec, *, replica: str, port: int, version: str | None = None
) -> dict[str, str]:
    """The parent's environment minus scalehook's own settings (they hold secrets)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCALEHOOK_")}
    env.update(spec.env)
    env.update(
        PORT=str(port),
        TAG=spec.version if version is None else version,
        REPLICA=replica,
        SCALEHOOK_SERVICE=spec.name,
        SCALEHOOK_REPLICA=replica,
    )
    return env


class ReplicaProcess:
    """One replica. Its ``version`` is its own: during a rolling upgrade replicas of one
    service run different versions, and a replica that exits restarts on its own."""

    def __init__(
        self,
        spec: LocalServiceSpec,
        index: int,
        *,
        log_dir: Path,
        on_change: Callable[[ReplicaProcess], None],
        version: str | None = None,
        image: str | None = None,
        cgroup: Callable[[ReplicaProcess], tuple[str, ...]] | None = None,
    ) -> None:
        self.spec = spec
        self._cgroup = cgroup  # makes its cgroup, returns the files to join
        self.index = index
        self.version = spec.version if version is None else version
        self.image = spec.image_of(self.version) if image is None else image
        self.id = f"{spec.name}-{index}"
        self.port: int | None = None
        self.pid: int | None = None
        self.ready = False
        self.state = "starting"
        self.restarts = 0
        self.started_at: datetime | None = None
        self.ready_since: datetime | None = None  # when it last became ready
        self.last_error: str | None = None
        self._log_path = log_dir / f"{self.id}.log"
        self._on_change = on_change
        self._stopping = asyncio.Event()
        self._grace = spec.stop_grace
        self._task: asyncio.Task[None] | None = None

    @property
    def key(self) -> str:
        return self.id

    @property
    def address(self) -> tuple[str, int] | None:
        if self.ready and self.port is not None and not self._stopping.is_set():
            return (self.spec.host, self.port)
        return None

    @property
    def running(self) -> bool:
        return self.pid is not None and not self._stopping.is_set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name=f"replica {self.id}")

    async def stop(self, grace: float) -> None:
        """Stop for good: SIGTERM to the process group, SIGKILL after ``grace`` seconds."""
        self._grace = grace
        self._stopping.set()
        self._set(ready=False, state="stopping")
        if self._task is not None:
            await asyncio.shield(self._task)

    def _set(self, **changes: object) -> None:
        if "ready" in changes and bool(changes["ready"]) != self.ready:
            self.ready_since = datetime.now(UTC) if changes["ready"] else None
        for key, value in changes.items():
            setattr(self, key, value)
        self._on_change(self)

    async def _supervise(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            process = await self._spawn()
            if process is None:
                await self._pause(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
                continue
            began = time.monotonic()
            exited = asyncio.create_task(process.wait())
            stopping = asyncio.create_task(self._stopping.wait())
            probing = asyncio.create_task(self._probe_loop())
            await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
            probing.cancel()
            if not exited.done():
                await self._terminate(process, exited)
            stopping.cancel()
            code = exited.result()
            self._set(ready=False, pid=None, port=None)
            if self._stopping.is_set():
                break
            self.restarts += 1
            self.last_error = f"exited with status {code}"
            log.warning("replica %s exited with status %s; restarting", self.id, code)
            if time.monotonic() - began > _STABLE_AFTER:
                backoff = 0.5
            self._set(state="restarting")
            await self._pause(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)
        self._set(state="exited", ready=False, pid=None)

    async def _spawn(self) -> asyncio.subprocess.Process | None:
        port = free_port(self.spec.host)
        argv = self.spec.argv(port=port, version=self.version)
        try:
            cgroups = () if self._cgroup is None else self._cgroup(self)
        except CgroupError as exc:
            self.last_error = str(exc)
            log.error("replica %s: %s", self.id, self.last_error)
            self._set(state="failed")
            return None
        try:
            log_file = self._open_log()
            try:
                process = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    cwd=self.spec.cwd,
                    env=child_environment(
                        self.spec, replica=self.id, port=port, version=self.version
                    ),
                    start_new_session=True,
                    preexec_fn=functools.partial(_in_child, os.getpid(), cgroups),
                )
            finally:
                os.close(log_file)
        except OSError as exc:
            self.last_error = f"cannot start {argv[0]!r}: {exc.strerror or exc}"
            log.error("replica %s: %s", self.id, self.last_error)
            self._set(state="failed")
            return None
        self.started_at = datetime.now(UTC)
        self._set(pid=process.pid, port=port, state="running")
        return process

    def _open_log(self) -> int:
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            if self._log_path.stat().st_size > _LOG_ROTATE_BYTES:
                self._log_path.replace(self._log_path.with_suffix(".log.1"))
        return os.open(self._log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    async def _terminate(
        self, process: asyncio.subprocess.Process, exited: asyncio.Task[int]
    ) -> None:
        _signal_group(process.pid, signal.SIGTERM)
        _signal_group(process.pid, signal.SIGCONT)  # a stopped process acts on it only now
        try:
            await asyncio.wait_for(asyncio.shield(exited), self._grace)
        except TimeoutError:
            log.warning("replica %s ignored SIGTERM for %.1fs; killing it", self.id, self._grace)
        _signal_group(process.pid, signal.SIGKILL)
        await exited

    async def _probe_loop(self) -> None:
        readiness = self.spec.readiness
        successes = failures = 0
        was_ready = False
        while self.port is not None:
            ok = await probe(self.spec.host, self.port, readiness)
            if ok:
                successes, failures = successes + 1, 0
                if not self.ready and successes >= readiness.healthy_threshold:
                    was_ready = True
                    self._set(ready=True, state="ready")
            else:
                successes, failures = 0, failures + 1
                if self.ready and failures >= readiness.unhealthy_threshold:
                    self._set(ready=False, state="unready")
            interval = (
                readiness.interval if was_ready else min(readiness.interval, _FIRST_PROBE_INTERVAL)
            )
            await asyncio.sleep(interval)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
