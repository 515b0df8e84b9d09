"""Cost growth: trigger latency as the store fills. A trigger looks its receiver up by
key hash and appends one execution; neither may grow with the tables (both use an
index or the end of one). Baseline: the same figure on a store of 10 and 10. Known
keys are served from memory after their first use, so the index is measured with
unknown keys (404), which always read the database.
"""

from __future__ import annotations

from bench.common import Figure, median, percentile
from bench.loadgen import fixed_rate
from bench.servers import UNLIMITED, seeded, sleeper

RATE = 200.0
CASES = [  # (receivers, executions)
    (10, 1_000),
    (10, 100_000),
    (10_000, 10),
]


def _latency(receivers: int, executions: int, seconds: float) -> tuple[float, float, float]:
    """p50 and p99 of a known key, and p50 of an unknown one (404: always a database
    read, where a known key is answered from memory after its first use)."""
    config = {"services": {"web": sleeper()}, "hooks": UNLIMITED}
    with seeded(config, receivers=receivers, executions=executions) as (server, url):
        fixed_rate(url, rate=RATE, duration=1.0)  # warm up
        measured = fixed_rate(url, rate=RATE, duration=seconds)
        assert set(measured.statuses) == {200}, measured.statuses
        unknown = fixed_rate(f"{server.url}/v1/hooks/shk_unknown", rate=RATE, duration=seconds)
        assert set(unknown.statuses) == {404}, unknown.statuses
        return (
            percentile(measured.seconds, 50) * 1000,
            percentile(measured.seconds, 99) * 1000,
            percentile(unknown.seconds, 50) * 1000,
        )


def run(quick: bool) -> list[Figure]:
    runs = 1 if quick else 3
    seconds = 3.0 if quick else 5.0
    base: list[tuple[float, float, float]] = []
    grown: dict[tuple[int, int], list[tuple[float, float, float]]] = {case: [] for case in CASES}
    for _ in range(runs):  # interleaved, so every case sees the same neighbours
        base.append(_latency(10, 10, seconds))
        for case in CASES:
            grown[case].append(_latency(*case, seconds))
    base50 = median([b[0] for b in base])
    figures = []
    for (receivers, executions), results in grown.items():
        figures.append(
            Figure(
                f"trigger p50 @{RATE:.0f}/s, {receivers:,} receivers, {executions:,} executions",
                median([r[0] for r in results]),
                "ms",
                "10 receivers, 10 executions",
                base50,
                runs,
                f"p99 {median([r[1] for r in results]):.3g} ms"
                f" (baseline {median([b[1] for b in base]):.3g} ms)",
            )
        )
    big = grown[(10_000, 10)]
    figures.append(
        Figure(
            f"unknown key p50 @{RATE:.0f}/s (404), 10,000 receivers",
            median([r[2] for r in big]),
            "ms",
            "the same with 10 receivers",
            median([b[2] for b in base]),
            runs,
            "a database read every time",
        )
    )
    return figures
