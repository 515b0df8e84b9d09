"""Resident memory of ``scalehook serve``: idle, and with 1,000 receivers and 10,000
executions that have been used (every receiver triggered, the trail listed).

Baselines: the bare ASGI app on the same uvicorn stack (what any Python server costs),
and scalehook's own idle figure.
"""

from __future__ import annotations

import time

import httpx

from bench.common import Figure, median
from bench.servers import UNLIMITED, bare_app, rss, scalehook, seeded, sleeper

MIB = 1024 * 1024


def _bare_rss() -> float:
    with bare_app() as bare:
        time.sleep(0.5)
        return rss(bare.pid) / MIB


def _idle_rss() -> float:
    with scalehook({}) as server:
        time.sleep(0.5)
        return rss(server.pid) / MIB


def _loaded_rss() -> float:
    config = {"services": {"web": sleeper()}, "hooks": UNLIMITED}
    with seeded(config, receivers=1000, executions=10_000) as (server, _):
        receivers = server.client.get("/v1/receivers").json()
        assert len(receivers) == 1000
        # Keys are stored only as hashes: rotate to learn each URL, then trigger each.
        with httpx.Client(timeout=30) as client:
            for receiver in receivers:
                url = server.client.post(f"/v1/receivers/{receiver['id']}/rotate").json()["url"]
                assert client.post(url).status_code == 200
        for _ in range(10):
            server.client.get("/v1/executions", params={"limit": 1000})
        time.sleep(0.5)
        return rss(server.pid) / MIB


def run(quick: bool) -> list[Figure]:
    runs = 1 if quick else 3
    bare = median([_bare_rss() for _ in range(runs)])
    idle = median([_idle_rss() for _ in range(runs)])
    loaded = median([_loaded_rss() for _ in range(runs)])
    return [
        Figure(
            "RSS of scalehook serve, idle", idle, "MiB", "bare ASGI app, same uvicorn", bare, runs
        ),
        Figure(
            "RSS with 1,000 receivers, 11,000 executions",
            loaded,
            "MiB",
            "scalehook serve, idle",
            idle,
            runs,
            "every receiver rotated and triggered once",
        ),
    ]
