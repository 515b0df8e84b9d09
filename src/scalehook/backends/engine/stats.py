"""CPU%, memory and limits of containers, from one stats reading each.

The Engine API has no call for the stats of many containers: it is one
``/containers/{id}/stats`` per container. The engine's stats collector reads every
container it is asked about once a second and hands each reading to the calls
waiting for one. With ``stream=false`` alone a call waits for two readings (1-2 s);
with ``one-shot=true`` (API 1.41) for the next one only (0-1 s, and calls made at once
share that wait, so a service of N containers costs one wait, not N).
:class:`ContainerStats` asks that way, all of a service's containers at once, and
keeps each container's last reading: CPU% is computed from the previous one as
``docker stats`` does (CPU time used over host CPU time passed, times the online CPUs;
100% = one core), so the first sample of a container has none. An engine older than
1.41 gets the two-reading call and its own earlier reading is used.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from scalehook.backends.engine.client import JSON, EngineClient, EngineError, EngineNotFound
from scalehook.backends.sampling import Readings
from scalehook.domain.resources import memory_limit

log = logging.getLogger(__name__)

ONE_SHOT_API = (1, 41)


@dataclass(frozen=True, slots=True)
class Reading:
    """One stats reading of a container's counters."""

    at: float  # the engine's read time, in seconds since the epoch
    read: datetime
    cpu: int  # ns of CPU the container has used
    system: int  # ns of CPU the host has used, all cores together
    cpus: int  # online CPUs
    memory: int | None


@dataclass(frozen=True, slots=True)
class Usage:
    """A container's sample: CPU% since the reading before (None: none yet) and memory."""

    read: datetime
    cpu_percent: float | None
    window: float | None
    memory_bytes: int | None
    restarted: bool = False  # its counters went back since the last reading


def reading(stats: JSON, *, pre: bool = False) -> Reading | None:
    """The reading in a stats answer (``pre``: the earlier one a two-reading answer also
    carries); None when it holds none (a container that does not run)."""
    read = engine_time(str(stats.get("preread" if pre else "read") or ""))
    cpu = stats.get("precpu_stats" if pre else "cpu_stats") or {}
    if read is None or not cpu.get("system_cpu_usage"):
        return None
    usage = cpu.get("cpu_usage") or {}
    cores = cpu.get("online_cpus") or len(usage.get("percpu_usage") or []) or 1
    return Reading(
        at=read.timestamp(),
        read=read,
        cpu=int(usage.get("total_usage") or 0),
        system=int(cpu["system_cpu_usage"]),
        cpus=int(cores),
        memory=None if pre else memory_bytes(stats),
    )


def cpu_percent(before: Reading, after: Reading) -> float | None:
    """CPU used between two readings, 100% being one full core, as ``docker stats``
    computes it; None when no host time passed or the counter went back (a restart)."""
    used = after.cpu - before.cpu
    system = after.system - before.system
    if system <= 0 or used < 0:
        return None
    return round(used / system * after.cpus * 100.0, 2)


def memory_bytes(stats: JSON) -> int | None:
    """Memory in use less the page cache that could be dropped (cgroup v1 and v2);
    None when the answer has no memory figure."""
    memory = stats.get("memory_stats") or {}
    if "usage" not in memory:
        return None
    usage = int(memory["usage"])
    details = memory.get("stats") or {}
    for key in ("total_inactive_file", "inactive_file"):
        if key in details and int(details[key]) < usage:
            return usage - int(details[key])
    return usage


def limits(host_config: JSON) -> tuple[float | None, int | None]:
    """(cores, bytes) a container may use, from its ``HostConfig``: ``NanoCpus``
    (``--cpus``), else ``CpuQuota``/``CpuPeriod``, at most its cpuset's CPUs; ``Memory``.
    None where it has no limit."""
    cores: float | None = None
    nano = int(host_config.get("NanoCpus") or 0)
    quota = int(host_config.get("CpuQuota") or 0)
    if nano > 0:
        cores = nano / 1e9
    elif quota > 0:
        cores = quota / (int(host_config.get("CpuPeriod") or 0) or 100_000)
    cpuset = cpuset_size(str(host_config.get("CpusetCpus") or ""))
    if cpuset:
        cores = float(cpuset) if cores is None else min(cores, float(cpuset))
    return cores, memory_limit(int(host_config.get("Memory") or 0))


def cpuset_size(text: str) -> int:
    """How many CPUs a cpuset names (``0-2,4`` is 4); 0 for none or an unreadable one."""
    count = 0
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        try:
            count += int(last or first) - int(first) + 1
        except ValueError:
            return 0
    return count


class ContainerStats:
    """One quick stats call per container, CPU% from the reading kept from the last."""

    def __init__(self, client: EngineClient) -> None:
        self._client = client
        self._readings: Readings[str, Reading] = Readings()

    async def sample(self, containers: Sequence[str], *, group: str) -> dict[str, Usage]:
        """A sample of each container of ``group`` (a service) that is running, read
        concurrently; a container that is gone or answers nothing is left out. The
        readings of the group's other containers are forgotten."""
        version = await self._client.ping()
        major, _, minor = version.partition(".")
        one_shot = (int(major), int(minor or 0)) >= ONE_SHOT_API
        params = {"stream": "false", **({"one-shot": "true"} if one_shot else {})}
        answers = await asyncio.gather(*(self._stats(c, params) for c in containers))
        self._readings.only(group, containers)
        usages: dict[str, Usage] = {}
        for container, answer in zip(containers, answers, strict=True):
            now = None if answer is None else reading(answer)
            if answer is None or now is None:
                continue
            before = self._readings.add(container, now)
            if before is None and not one_shot:
                before = reading(answer, pre=True)  # the engine's own earlier reading
            percent = None if before is None else cpu_percent(before, now)
            restarted = before is not None and now.cpu < before.cpu
            if restarted:
                self._readings.restart(container, now)
            usages[container] = Usage(
                read=now.read,
                cpu_percent=percent,
                window=None if percent is None or before is None else round(now.at - before.at, 3),
                memory_bytes=now.memory,
                restarted=restarted,
            )
        return usages

    async def _stats(self, container: str, params: dict[str, str]) -> JSON | None:
        try:
            return await self._client.get(f"/containers/{container}/stats", params=params)
        except EngineNotFound:
            return None
        except EngineError as exc:  # e.g. removed while we asked: no sample, no failure
            log.debug("no stats for container %s: %s", container[:12], exc.engine_text)
            return None


def engine_time(text: str) -> datetime | None:
    """A time the engine wrote (RFC 3339, nanoseconds); None for its zero time."""
    if not text or text.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
