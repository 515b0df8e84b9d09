"""The trigger's own cost: latency at a fixed rate and throughput, for a receiver whose
service is already at its max (the decision and the record, no engine work).

Baselines from the same run: the same server answering ``GET /healthz`` (the
framework's floor), and a bare ASGI app on the same uvicorn stack.
"""

from __future__ import annotations

from bench.common import Figure, median, percentile
from bench.loadgen import fixed_rate, throughput
from bench.servers import UNLIMITED, bare_app, scalehook, sleeper

# 500/s is the rate the issue names; 200/s is below saturation on a busy 2-core box,
# where the figure is the trigger's own latency rather than a queue.
RATES = (200.0, 500.0)


def latency(quick: bool) -> list[Figure]:
    runs = 2 if quick else 5
    seconds = 3.0 if quick else 6.0
    config = {"services": {"web": sleeper()}, "hooks": UNLIMITED}
    figures: list[Figure] = []
    with scalehook(config) as server:
        url = server.create_receiver("bench", service="web", action="up", max=1)["url"]
        fixed_rate(url, rate=200, duration=1.0)  # warm up
        for rate in RATES:
            p50: list[float] = []
            p99: list[float] = []
            floor50: list[float] = []
            floor99: list[float] = []
            client_share: list[float] = []
            for _ in range(runs):
                hook = fixed_rate(url, rate=rate, duration=seconds)
                assert set(hook.statuses) == {200}, hook.statuses
                floor = fixed_rate(
                    f"{server.url}/healthz", rate=rate, duration=seconds, method="GET"
                )
                p50.append(percentile(hook.seconds, 50) * 1000)
                p99.append(percentile(hook.seconds, 99) * 1000)
                floor50.append(percentile(floor.seconds, 50) * 1000)
                floor99.append(percentile(floor.seconds, 99) * 1000)
                client_share.append(hook.client_cpu / seconds)
            baseline = "GET /healthz, same server"
            figures += [
                Figure(
                    f"trigger p50 @{rate:.0f}/s, at max",
                    median(p50),
                    "ms",
                    baseline,
                    median(floor50),
                    runs,
                    f"load generator used {median(client_share):.0%} of a core",
                ),
                Figure(
                    f"trigger p99 @{rate:.0f}/s, at max",
                    median(p99),
                    "ms",
                    baseline,
                    median(floor99),
                    runs,
                ),
            ]
    return figures


def throughputs(quick: bool) -> list[Figure]:
    runs = 2 if quick else 5
    seconds = 3.0 if quick else 6.0
    config = {"services": {"web": sleeper()}, "hooks": UNLIMITED}
    rps: list[float] = []
    bare_rps: list[float] = []
    tool = ""
    with scalehook(config) as server, bare_app() as bare:
        url = server.create_receiver("bench", service="web", action="up", max=1)["url"]
        for _ in range(runs):  # interleaved, so both see the same neighbours
            measured = throughput(url, duration=seconds)
            assert measured.statuses_ok
            rps.append(measured.per_second)
            tool = measured.tool
            bare_rps.append(throughput(bare.url, duration=seconds, method="GET").per_second)
    return [
        Figure(
            "trigger throughput, at max",
            median(rps),
            "req/s",
            "bare ASGI app, same uvicorn",
            median(bare_rps),
            runs,
            f"16 connections, {tool}",
        )
    ]


def run(quick: bool) -> list[Figure]:
    return latency(quick) + throughputs(quick)
