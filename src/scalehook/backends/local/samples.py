"""Samples of local replicas: CPU and memory of each replica's process and its children.

One reading per process (``/proc``, through psutil) per sample, no sleep: CPU% is the
CPU time the process and its children used since the last reading of that process
(``backends.sampling``). A replica's descendants are found in one scan of the process
table, kept for :data:`TABLE_FOR` seconds and shared by every service, so sampling
hundreds of services a second does not scan it hundreds of times. A child's CPU time
stays counted once it exits and is waited for (its parent's ``children_*`` times);
one that vanishes unwaited makes the total go back: that window has no CPU%.
The limits are the service's, when cgroups hold the replicas to them (else None).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil

from scalehook.backends.base import ReplicaSample
from scalehook.backends.local.replica import ReplicaProcess
from scalehook.backends.sampling import Readings
from scalehook.domain.resources import Resources

TABLE_FOR = 0.5
"""Seconds a scan of the process table (who is whose child) is used for."""

_PROC = Path("/proc")

Key = tuple[int, float]  # pid, and when the replica started it (pids are reused)


@dataclass(frozen=True, slots=True)
class CpuReading:
    at: float  # time.monotonic()
    cpu: float  # seconds of CPU used by the process and its children


def cpu_percent(before: CpuReading, after: CpuReading) -> float | None:
    """CPU used between two readings, 100% being one full core; None when no time
    passed or the total went back."""
    elapsed = after.at - before.at
    used = after.cpu - before.cpu
    if elapsed <= 0 or used < 0:
        return None
    return round(used / elapsed * 100.0, 2)


class ProcessSampler:
    def __init__(self) -> None:
        self._readings: Readings[Key, CpuReading] = Readings()
        self._processes: dict[Key, psutil.Process] = {}
        self._owned: dict[str, set[Key]] = {}  # service -> the keys of its processes
        self._table: dict[int, list[int]] = {}  # pid -> its children's pids
        self._table_at = -TABLE_FOR

    def samples(
        self,
        service: str,
        replicas: Sequence[ReplicaProcess],
        *,
        limits: Resources | None = None,
    ) -> list[ReplicaSample]:
        keys = {r.id: _key(r) for r in replicas}
        live = {k for k in keys.values() if k is not None}
        self._readings.only(service, live)
        for gone in self._owned.get(service, set()) - live:
            self._processes.pop(gone, None)
        self._owned[service] = live
        if live:
            self._scan()
        held = limits or Resources()
        return [self._sample(r, keys[r.id], held) for r in replicas]

    def _sample(self, replica: ReplicaProcess, key: Key | None, limits: Resources) -> ReplicaSample:
        cpu = window = memory = None
        if key is not None:
            measured = self._measure(key)
            if measured is not None:
                reading, memory = measured
                before = self._readings.add(key, reading)
                if before is not None:
                    cpu = cpu_percent(before, reading)
                    window = None if cpu is None else round(reading.at - before.at, 3)
                    if cpu is None:
                        self._readings.restart(key, reading)
        return ReplicaSample(
            replica=replica.id,
            ready=replica.ready,
            started_at=replica.started_at if key is not None else None,
            ready_since=replica.ready_since if replica.ready else None,
            cpu_percent=cpu,
            cpu_limit=limits.cpus,
            memory_bytes=memory,
            memory_limit=limits.memory,
            sampled_at=datetime.now(UTC),
            window=window,
            leaving=replica.state in ("stopping", "exited"),
        )

    def _measure(self, key: Key) -> tuple[CpuReading, int] | None:
        """CPU seconds and resident memory of the process and its descendants."""
        process = self._processes.get(key)
        try:
            if process is None:
                process = self._processes[key] = psutil.Process(key[0])
            times = process.cpu_times()
            cpu = times.user + times.system + times.children_user + times.children_system
            rss = process.memory_info().rss
        except psutil.Error:
            self._processes.pop(key, None)
            return None
        for child in self._descendants(key[0]):
            try:
                with child.oneshot():
                    times = child.cpu_times()
                    cpu += times.user + times.system
                    rss += child.memory_info().rss
            except psutil.Error:
                continue
        return CpuReading(at=time.monotonic(), cpu=cpu), rss

    def _descendants(self, pid: int) -> list[psutil.Process]:
        found, todo = [], list(self._table.get(pid, ()))
        while todo:
            child = todo.pop()
            try:
                found.append(psutil.Process(child))
            except psutil.Error:
                continue
            todo.extend(self._table.get(child, ()))
        return found

    def _scan(self) -> None:
        """Who is whose child, read at most once per :data:`TABLE_FOR` seconds."""
        now = time.monotonic()
        if now - self._table_at < TABLE_FOR:
            return
        self._table, self._table_at = children_table(), now


def children_table() -> dict[int, list[int]]:
    """Each pid's children's pids: from ``/proc/*/stat`` read directly where there is
    one (several times faster than psutil's own scan), else through psutil."""
    table: dict[int, list[int]] = {}
    if not _PROC.is_dir():
        for process in psutil.process_iter(["ppid"]):
            table.setdefault(int(process.info.get("ppid") or 0), []).append(process.pid)
        return table
    with os.scandir(_PROC) as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                with open(os.path.join(entry.path, "stat"), "rb") as stat:
                    data = stat.read()
                # "pid (comm) state ppid ...": comm may hold spaces and parentheses
                parent = int(data[data.rindex(b")") + 2 :].split(None, 2)[1])
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile, or unreadable
            table.setdefault(parent, []).append(int(entry.name))
    return table


def _key(replica: ReplicaProcess) -> Key | None:
    if replica.pid is None or replica.started_at is None:
        return None
    return replica.pid, replica.started_at.timestamp()
