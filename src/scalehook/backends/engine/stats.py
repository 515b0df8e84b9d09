"""CPU% and memory of one container, computed as ``docker stats`` does."""

from __future__ import annotations

from scalehook.backends.engine.client import JSON, EngineClient, EngineNotFound


def cpu_percent(sample: JSON) -> float:
    """CPU used between the sample's two readings, 100% being one full core."""
    cpu, pre = sample.get("cpu_stats") or {}, sample.get("precpu_stats") or {}
    used = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (pre.get("cpu_usage") or {}).get(
        "total_usage", 0
    )
    system = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    if used <= 0 or system <= 0 or not pre.get("system_cpu_usage"):
        return 0.0
    cores = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or [1])
    return round(float(used) / float(system) * float(cores) * 100.0, 2)


def memory_bytes(sample: JSON) -> int:
    """Memory in use less the page cache that could be dropped (cgroup v1 and v2)."""
    memory = sample.get("memory_stats") or {}
    usage = int(memory.get("usage", 0))
    details = memory.get("stats") or {}
    for key in ("total_inactive_file", "inactive_file"):
        if key in details and int(details[key]) < usage:
            return usage - int(details[key])
    return usage


async def container_stats(client: EngineClient, container: str) -> tuple[float, int] | None:
    """One sample of a container (about a second: the engine waits for two readings);
    None if the container is gone or not on this engine."""
    try:
        sample = await client.get(f"/containers/{container}/stats", params={"stream": "false"})
    except EngineNotFound:
        return None
    if not sample.get("read") or sample.get("read", "").startswith("0001-"):
        return None
    return cpu_percent(sample), memory_bytes(sample)
