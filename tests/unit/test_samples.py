"""The pure parts of replica samples: CPU% from recorded engine readings, limits, when a
container became ready, and the window rule shared by every backend."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scalehook.backends.engine.readiness import NO_CHECK_WAIT, health_window, ready_since
from scalehook.backends.engine.stats import (
    cpu_percent,
    cpuset_size,
    engine_time,
    limits,
    memory_bytes,
    reading,
)
from scalehook.backends.local import samples as local
from scalehook.backends.sampling import Readings
from scalehook.backends.swarm.samples import task_limits

RECORDED = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "engine-stats.json").read_text()
)


def test_cpu_percent_from_two_recorded_one_shot_readings_as_docker_stats_computes_it() -> None:
    first, second = reading(RECORDED["one_shot_first"]), reading(RECORDED["one_shot_second"])
    assert first is not None and second is not None
    # a one-shot answer carries one reading: its precpu_stats are empty
    assert reading(RECORDED["one_shot_first"], pre=True) is None
    assert (first.cpu, first.system, first.cpus) == (756_625_714, 3_710_830_000_000, 2)
    # docker stats: (1194338320 - 756625714) / (3712930000000 - 3710830000000) * 2 * 100
    assert cpu_percent(first, second) == 41.69  # a spinning process held to --cpus 0.5
    assert round(second.at - first.at, 3) == 1.05
    assert second.memory == 540_672
    assert cpu_percent(second, first) is None  # the counter went back: a restart, not 0


def test_a_two_reading_answer_gives_its_own_window() -> None:
    answer = RECORDED["two_readings"]
    now, before = reading(answer), reading(answer, pre=True)
    assert now is not None and before is not None
    # (2064433639 - 1650541830) / (3717020000000 - 3715000000000) * 2 * 100
    assert cpu_percent(before, now) == 40.98
    assert round(now.at - before.at, 2) == 1.01


def test_no_reading_no_figure() -> None:
    stopped = {"read": "0001-01-01T00:00:00Z", "cpu_stats": {}, "memory_stats": {}}
    assert reading(stopped) is None
    assert memory_bytes({"memory_stats": {}}) is None  # unknown, not 0
    assert (
        memory_bytes({"memory_stats": {"usage": 10_000, "stats": {"inactive_file": 4_000}}})
        == 6_000
    )
    one = reading(RECORDED["one_shot_first"])
    assert one is not None
    assert cpu_percent(one, one) is None  # no time passed: no window
    idle = reading({**RECORDED["one_shot_first"], "read": "2026-12-01T21:45:18Z"})
    assert idle is not None
    later = reading(
        {
            **RECORDED["one_shot_first"],
            "read": "2026-12-01T21:45:19Z",
            "cpu_stats": {
                **RECORDED["one_shot_first"]["cpu_stats"],
                "system_cpu_usage": 3_712_830_000_000,
            },
        }
    )
    assert later is not None and cpu_percent(idle, later) == 0.0  # idle is known: 0


def test_limits_from_host_config() -> None:
    assert limits({"NanoCpus": 500_000_000, "Memory": 64 * 2**20}) == (0.5, 64 * 2**20)
    assert limits({"CpuQuota": 150_000, "CpuPeriod": 100_000}) == (1.5, None)
    assert limits({"CpuQuota": 50_000}) == (0.5, None)  # the default period
    assert limits({"CpusetCpus": "0-2,4"}) == (4.0, None)
    assert limits({"NanoCpus": 3_000_000_000, "CpusetCpus": "1"}) == (1.0, None)
    assert limits({"NanoCpus": 0, "CpuQuota": -1, "Memory": 0}) == (None, None)
    assert cpuset_size("0-1,3") == 3 and cpuset_size("") == 0 and cpuset_size("x") == 0
    task = {"Spec": {"Resources": {"Limits": {"NanoCPUs": 250_000_000, "MemoryBytes": 1 << 24}}}}
    assert task_limits(task) == (0.25, 1 << 24)
    assert task_limits({"Spec": {}}) == (None, None)


def check(code: int, end: str) -> dict[str, Any]:
    return {"Start": end, "End": end, "ExitCode": code, "Output": ""}


def test_ready_since_is_the_first_pass_of_the_last_healthy_streak() -> None:
    started = "2026-12-01T10:00:00.5Z"
    record: Any = {
        "State": {
            "Status": "running",
            "StartedAt": started,
            "Health": {
                "Status": "healthy",
                "Log": [
                    check(0, "2026-12-01T10:00:01Z"),
                    check(1, "2026-12-01T10:00:02Z"),
                    check(0, "2026-12-01T10:00:03.25Z"),
                    check(0, "2026-12-01T10:00:04Z"),
                ],
            },
        }
    }
    assert ready_since(record) == datetime(2026, 12, 1, 10, 0, 3, 250_000, tzinfo=UTC)
    record["State"]["Health"]["Status"] = "unhealthy"
    assert ready_since(record) is None
    del record["State"]["Health"]  # no HEALTHCHECK: ready once running
    assert ready_since(record) == engine_time(started)
    record["State"]["Status"] = "exited"
    assert ready_since(record) is None


def test_health_window_is_what_the_engine_takes_to_decide() -> None:
    second = 1_000_000_000
    check_config = {"Test": ["CMD", "x"], "Interval": second, "Timeout": 2 * second, "Retries": 1}
    assert health_window({"Config": {"Healthcheck": check_config}}) == 6.0
    assert health_window({"Config": {"Healthcheck": {"Test": ["CMD", "x"]}}}) == 240.0  # defaults
    started = {"Test": ["CMD", "x"], "StartPeriod": 10 * second, "Retries": 2}
    assert health_window({"Config": {"Healthcheck": started}}) == 190.0
    assert health_window({"Config": {"Healthcheck": {"Test": ["NONE"]}}}) == NO_CHECK_WAIT
    assert health_window({"Config": {}}) == NO_CHECK_WAIT


@dataclass(frozen=True)
class At:
    at: float


def test_a_window_is_never_shorter_than_the_minimum() -> None:
    readings: Readings[str, At] = Readings(min_window=0.5)
    assert readings.add("a", At(0.0)) is None  # the first reading of a replica primes it
    assert readings.add("a", At(1.0)) == At(0.0)
    # a second reader right after: measured from the reading before, which stays the last
    assert readings.add("a", At(1.1)) == At(0.0)
    assert readings.add("a", At(2.0)) == At(1.0)
    readings.restart("a", At(2.5))
    assert readings.add("a", At(3.0)) == At(2.5)
    readings.add("b", At(0.0))
    readings.only("web", ["a", "b"])
    readings.only("web", ["b"])  # "a" left the service: forgotten
    assert "a" not in readings and "b" in readings
    assert readings.add("a", At(4.0)) is None


def test_local_cpu_percent() -> None:
    before, after = local.CpuReading(at=10.0, cpu=1.0), local.CpuReading(at=12.0, cpu=2.5)
    assert local.cpu_percent(before, after) == 75.0
    assert local.cpu_percent(after, before) is None
    assert local.cpu_percent(before, local.CpuReading(at=11.0, cpu=1.0)) == 0.0
