"""What the local backend must remember across restarts of scalehook.

The desired replica count of each service (written durably before a scale answers),
the image (version) its new replicas run, once an upgrade has made it other than the
one in ``scalehook.yaml`` (written durably too), the CPU and memory limits set through
the API (durably too), and the pid of every replica it
started (so replicas left behind by a crash are found and stopped at the next start,
even if the kernel's parent-death signal missed them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any, TypedDict

import psutil

from scalehook.domain.resources import Resources

log = logging.getLogger(__name__)

# A new pid goes to disk at once (changes in one loop turn are written together):
# until it is there, a kill -9 of scalehook leaves no trace of the replica's children.
_FLUSH_DELAY = 0.0


class ProcessRecord(TypedDict):
    pid: int
    created: float


class ImageRecord(TypedDict):
    image: str
    declared: str  # the image scalehook.yaml declared when this was written


class LimitsRecord(TypedDict):
    cpus: float | None
    memory: int | None


class StateData(TypedDict):
    desired: dict[str, int]
    images: dict[str, ImageRecord]
    resources: dict[str, LimitsRecord]
    processes: dict[str, ProcessRecord]


class LocalState:
    def __init__(self, path: Path, data: StateData) -> None:
        self.path = path
        self._data = data
        self._lock = asyncio.Lock()
        self._pending: asyncio.TimerHandle | None = None
        self._flushes: set[asyncio.Task[None]] = set()

    @classmethod
    def load(cls, path: Path) -> LocalState:
        data: StateData = {"desired": {}, "images": {}, "resources": {}, "processes": {}}
        try:
            raw = json.loads(path.read_text())
            data["desired"] = {str(k): int(v) for k, v in raw.get("desired", {}).items()}
            data["images"] = {
                str(k): {"image": str(v["image"]), "declared": str(v["declared"])}
                for k, v in raw.get("images", {}).items()
            }
            data["resources"] = {
                str(k): {
                    "cpus": None if v.get("cpus") is None else float(v["cpus"]),
                    "memory": None if v.get("memory") is None else int(v["memory"]),
                }
                for k, v in raw.get("resources", {}).items()
            }
            data["processes"] = {
                str(k): {"pid": int(v["pid"]), "created": float(v["created"])}
                for k, v in raw.get("processes", {}).items()
            }
        except FileNotFoundError:
            pass
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            log.error("ignoring unreadable local state %s: %s", path, exc)
        return cls(path, data)

    def desired(self, service: str) -> int | None:
        return self._data["desired"].get(service)

    async def set_desired(self, service: str, replicas: int) -> None:
        """Record a desired count durably (fsync) before returning."""
        self._data["desired"][service] = replicas
        await self.flush()

    def image(self, service: str, *, declared: str) -> str | None:
        """The image an upgrade left the service on, unless ``scalehook.yaml`` has
        declared another image since (then the file wins: someone edited it)."""
        record = self._data["images"].get(service)
        if record is None or record["declared"] != declared:
            return None
        return record["image"]

    async def set_image(self, service: str, image: str, *, declared: str) -> None:
        """Record the service's image durably (fsync) before returning."""
        self._data["images"][service] = {"image": image, "declared": declared}
        await self.flush()

    def resources(self, service: str) -> Resources:
        """The limits set for the service's replicas (none until the API sets some)."""
        record = self._data["resources"].get(service)
        if record is None:
            return Resources()
        return Resources(cpus=record["cpus"], memory=record["memory"])

    async def set_resources(self, service: str, limits: Resources) -> None:
        """Record the service's limits durably (fsync) before returning."""
        self._data["resources"][service] = {"cpus": limits.cpus, "memory": limits.memory}
        await self.flush()

    def forget_services(self, keep: set[str]) -> None:
        tables: tuple[dict[str, Any], ...] = (
            self._data["desired"],
            self._data["images"],
            self._data["resources"],
        )
        for table in tables:
            for name in list(table):
                if name not in keep:
                    del table[name]

    def set_process(self, replica: str, pid: int | None) -> None:
        """Remember (or forget) a replica's process; called on every change of the replica,
        so only a changed pid is written."""
        records = self._data["processes"]
        if pid is None:
            if records.pop(replica, None) is None:
                return
        else:
            known = records.get(replica)
            if known is not None and known["pid"] == pid:
                return
            try:
                created = psutil.Process(pid).create_time()
            except psutil.Error:
                return
            records[replica] = {"pid": pid, "created": created}
        self._flush_soon()

    async def stop_orphans(self, grace: float = 3.0) -> list[str]:
        """Stop processes a previous run started and left behind; return their replica ids."""
        orphans: list[tuple[str, int]] = []
        for replica, record in self._data["processes"].items():
            if _group_left(record):
                orphans.append((replica, record["pid"]))
        for _, pid in orphans:
            _kill_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while orphans and time.monotonic() < deadline:
            if not any(_group_alive(pid) for _, pid in orphans):
                break
            await asyncio.sleep(0.05)
        for _, pid in orphans:
            _kill_group(pid, signal.SIGKILL)
        self._data["processes"].clear()
        await self.flush()
        return [replica for replica, _ in orphans]

    def _flush_soon(self) -> None:
        if self._pending is not None:
            return
        loop = asyncio.get_running_loop()
        self._pending = loop.call_later(_FLUSH_DELAY, self._start_flush)

    def _start_flush(self) -> None:
        self._pending = None
        task = asyncio.create_task(self.flush())
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def flush(self) -> None:
        async with self._lock:
            text = json.dumps(self._data, indent=1, sort_keys=True)
            await asyncio.to_thread(_write_atomically, self.path, text)

    async def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        if self._flushes:
            await asyncio.gather(*self._flushes, return_exceptions=True)
        await self.flush()


def _group_left(record: ProcessRecord) -> bool:
    """Whether a replica recorded by an earlier run, or anything it started, still runs.

    The replica leads its own process group. When scalehook is killed, the kernel's
    parent-death signal kills the replica but not its children, which keep the group
    alive; the group id cannot be reused while they live. A live process with the
    recorded pid but another start time is someone else's: the pid was reused.
    """
    pid = record["pid"]
    try:
        return abs(psutil.Process(pid).create_time() - record["created"]) < 0.01
    except psutil.NoSuchProcess:
        return _group_alive(pid)
    except psutil.Error:
        return False


def _group_alive(pgid: int) -> bool:
    """Whether a live (not zombie) process is in the process group ``pgid``."""
    for process in psutil.process_iter(["status"]):
        try:
            if process.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(process.pid) == pgid:
                return True
        except (OSError, psutil.Error):
            continue
    return False


def _kill_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
