"""CPU and memory limits of plain Docker containers, changed in place.

``POST /containers/{id}/update`` changes a running container's limits without a restart.
What the engine takes (checked on Engine 20.10, API 1.41): ``CpuQuota``/``CpuPeriod``
always, unless the container was made with ``--cpus`` (``NanoCpus``), which then alone
may change (the engine refuses a quota beside it); ``Memory`` with ``MemorySwap`` equal
(no swap, and in the order the kernel needs, which the engine handles when both move).
An update cannot clear a limit (0 means "unchanged", -1 is refused for memory and for
``NanoCpus``), so "no limit" is written as the kernel writes it: a quota of -1, memory
at the kernel's largest value (read back as no limit), and for a ``NanoCpus`` container
all the engine's CPUs. Clones copy ``HostConfig``, so a scale-up or a rollout's
replacement carries the limits of the replica it is cloned from.

Pure: the request bodies, from a container's ``HostConfig``.
"""

from __future__ import annotations

from scalehook.backends.engine import JSON
from scalehook.domain.resources import Resources, memory_limit

PERIOD = 100_000  # microseconds
NANO = 1_000_000_000
NO_MEMORY_LIMIT = 9_223_372_036_854_771_712  # the kernel's largest limit (2**63 - 4096)


def limits_of(host_config: JSON) -> Resources:
    """The CPU and memory limits a ``HostConfig`` sets (``None``: none)."""
    nano = int(host_config.get("NanoCpus") or 0)
    quota = int(host_config.get("CpuQuota") or 0)
    cpus: float | None = None
    if nano > 0:
        cpus = nano / NANO
    elif quota > 0:
        cpus = quota / (int(host_config.get("CpuPeriod") or 0) or PERIOD)
    memory = memory_limit(int(host_config.get("Memory") or 0))
    return Resources(cpus=None if cpus is None else round(cpus, 3), memory=memory)


def update_body(host_config: JSON, target: Resources, *, engine_cpus: int) -> JSON:
    """The ``/containers/{id}/update`` body that gives a container ``target``; empty
    when it has those limits already."""
    current = limits_of(host_config)
    body: JSON = {}
    if current.cpus != target.cpus:
        if int(host_config.get("NanoCpus") or 0) > 0:
            cores = engine_cpus if target.cpus is None else target.cpus
            body["NanoCpus"] = round(cores * NANO)
        else:
            body["CpuPeriod"] = PERIOD
            body["CpuQuota"] = -1 if target.cpus is None else max(1000, round(target.cpus * PERIOD))
    if current.memory != target.memory:
        memory = NO_MEMORY_LIMIT if target.memory is None else target.memory
        body["Memory"] = memory
        body["MemorySwap"] = memory
    return body


def restore_body(host_config: JSON) -> JSON:
    """The body that puts back the limits ``host_config`` had (after a change that
    failed on another container of the service)."""
    body: JSON = {}
    nano = int(host_config.get("NanoCpus") or 0)
    if nano > 0:
        body["NanoCpus"] = nano
    else:
        quota = int(host_config.get("CpuQuota") or 0)
        body["CpuPeriod"] = int(host_config.get("CpuPeriod") or 0) or PERIOD
        body["CpuQuota"] = quota if quota != 0 else -1
    memory = int(host_config.get("Memory") or 0)
    swap = int(host_config.get("MemorySwap") or 0)
    body["Memory"] = memory if memory > 0 else NO_MEMORY_LIMIT
    body["MemorySwap"] = swap if memory > 0 and swap > 0 else body["Memory"]
    return body
