"""The benchmarks' own parts work (behaviour only; the figures live in bench/)."""

from __future__ import annotations

import httpx
from bench.common import Figure, percentile, table
from bench.loadgen import fixed_rate, throughput
from bench.servers import UNLIMITED, bare_app, seeded, sleeper


def test_fixed_rate_sends_every_request_and_measures_each() -> None:
    with bare_app() as bare:
        measured = fixed_rate(bare.url, rate=100, duration=0.5, method="GET", connections=4)
        assert measured.statuses == {200: 50}
        assert len(measured.seconds) == 50
        assert all(s > 0 for s in measured.seconds)
        assert throughput(bare.url, duration=0.5, method="GET", connections=2).statuses_ok


def test_a_seeded_store_holds_what_was_asked_and_its_key_triggers() -> None:
    config = {"services": {"web": sleeper()}, "hooks": UNLIMITED}
    with seeded(config, receivers=30, executions=120) as (server, url):
        assert len(server.client.get("/v1/receivers").json()) == 30
        assert len(server.client.get("/v1/executions", params={"limit": 1000}).json()) == 120
        answer = httpx.post(url).json()
        assert (answer["receiver_name"], answer["result"]) == ("probe", "noop")


def test_the_table_shows_value_baseline_and_ratio() -> None:
    text = table([Figure("x", 2.0, "ms", "floor", 1.0, 3, "n")], markdown=True)
    assert "| x | 2 ms | floor | 1 ms | 2.00x | 3 | n |" in text
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 50) == 3.0
    assert percentile([float(i) for i in range(1, 11)], 90) == 9.0
    assert percentile([float(i) for i in range(1, 101)], 99) == 99.0
