"""Alert-driven scaling: how long from an Alertmanager POST to the backend's scale call,
and from a Prometheus rule firing to the new replicas being ready.

1. In process (the real app, store and local backend, called through ASGI): the time
   from a POST being sent to ``Backend.scale`` being entered, over many alerts, each
   one a new incident that acts (firing scales up, its resolve back down). Baseline:
   the plain trigger (no body) of an up and a down receiver, interleaved in the same
   run.
2. End to end with real Prometheus, Alertmanager and scalehook: from the rule firing
   (the alert's ``activeAt`` in Prometheus) to the service's replicas being ready,
   with the Alertmanager ``group_wait`` used. Baseline: a plain POST to the trigger
   URL until the replicas are ready, in the same run.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.common import Figure, median, percentile
from scalehook.app import build_app
from scalehook.config import load_settings
from scalehook.domain.receivers import hash_key, new_key
from scalehook.drivers.scale_service import ScaleServiceDriver
from scalehook.runtime import Runtime
from scalehook.testing import ServerProcess, free_port
from scalehook.testing_alerts import AlertStack, LoadExporter, example_configs

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "examples" / "local" / "app.py"
EXAMPLE = ROOT / "examples" / "alertmanager"
GROUP_WAIT = "1s"


def service(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "command": [sys.executable, str(APP), "{port}"],
        "replicas": 1,
        "port": free_port(),
        "readiness": {"http": "GET / HTTP/1.0", "interval": "50ms", "timeout": "1s"},
        "stop_grace": "2s",
    }
    spec.update(overrides)
    return spec


def notification(name: str, status: str) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="WebHighLoad"}',
        "status": status,
        "receiver": "scalehook",
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": "WebHighLoad", "instance": name},
                "annotations": {},
                "startsAt": "2026-11-23T06:14:58.206Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": name,
            }
        ],
    }


# 1. in process ---------------------------------------------------------------------


async def _post_to_scale(alerts: int) -> tuple[list[float], list[float]]:
    """Seconds from sending a POST to ``Backend.scale`` being entered: (alerts, plain)."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "scalehook.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "services": {"web": service()},
                    "hooks": {"rate": 1e6, "burst": 1_000_000},
                    "log_level": "warning",
                }
            )
        )
        runtime = Runtime(load_settings(config, data_dir=Path(tmp) / "data"))
        await runtime.start()
        try:
            backend = next(iter(runtime.backends))
            entered: list[float] = []
            scale = backend.scale

            async def timed_scale(*, service: str, replicas: int) -> Any:
                entered.append(time.perf_counter())
                return await scale(service=service, replicas=replicas)

            backend.scale = timed_scale  # type: ignore[method-assign]
            urls = {}
            driver = ScaleServiceDriver()
            for name, options in {
                "am": {"action": "up", "on_resolved": "down"},
                "up": {"action": "up"},
                "down": {"action": "down"},
            }.items():
                key = new_key()
                parsed = driver.parse_config({"service": "web", "max": 2, **options})
                await runtime.store.receivers.add(
                    name=name,
                    driver=driver.name,
                    config=parsed.model_dump(mode="json"),
                    key_hash=hash_key(key),
                    enabled=True,
                )
                urls[name] = f"/v1/hooks/{key}"
            transport = httpx.ASGITransport(app=build_app(runtime))
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

                async def timed(url: str, body: dict[str, Any] | None = None) -> float:
                    before = len(entered)
                    started = time.perf_counter()
                    response = await client.post(url, json=body)
                    response.raise_for_status()
                    if len(entered) != before + 1:
                        raise RuntimeError(f"no scale call: {response.text}")
                    return entered[-1] - started

                am: list[float] = []
                plain: list[float] = []
                for i in range(alerts):
                    for status in ("firing", "resolved"):
                        body = notification(f"fp{i:08d}", status)
                        am.append(await timed(urls["am"], body))
                    for name in ("up", "down"):
                        plain.append(await timed(urls[name]))
            return am, plain
        finally:
            await runtime.close()


# 2. end to end -----------------------------------------------------------------------


def _wait(what: str, predicate: Callable[[], bool], timeout: float = 60.0) -> float:
    """Poll until ``predicate``; the wall-clock time it first held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.time()
        time.sleep(0.01)
    raise RuntimeError(f"{what}: not within {timeout}s")


def _ready(server: ServerProcess, name: str, count: int) -> bool:
    state = server.client.get(f"/v1/services/{name}").json()
    return bool(state["desired"] == count and state["ready"] == count)


def _end_to_end(runs: int) -> tuple[list[float], list[float], list[float]]:
    """(rule firing -> replicas ready, rule firing -> POST at scalehook, plain POST -> ready)."""
    fire_to_ready: list[float] = []
    fire_to_post: list[float] = []
    post_to_ready: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        server = ServerProcess(work / "scalehook", {"services": {"web": service()}}).start()
        exporter = LoadExporter(EXAMPLE / "load_exporter.py")
        stack: AlertStack | None = None
        try:
            am = server.create_receiver("am", service="web", action="up", max=2, on_resolved="down")
            up = server.create_receiver("up", service="web", action="up", max=2)
            down = server.create_receiver("down", service="web", action="down", min=1)
            configs = example_configs(
                EXAMPLE,
                targets={
                    "web": f"127.0.0.1:{exporter.port}",
                    "scalehook": f"127.0.0.1:{server.port}",
                },
                urls=[am["url"]],
                group_wait=GROUP_WAIT,
            )
            stack = AlertStack(
                work / "stack", prometheus=configs[0], rules=configs[1], alertmanager=configs[2]
            ).start()
            for _ in range(runs):
                exporter.set(0.95)
                _wait("the rule fires", lambda: bool(stack and stack.firing()))
                assert stack is not None
                active = datetime.fromisoformat(stack.firing()[0]["activeAt"]).timestamp()
                ready = _wait("replicas ready", lambda: _ready(server, "web", 2))
                scaled = server.client.get("/v1/executions", params={"receiver": "am"}).json()[0]
                arrived = datetime.fromisoformat(scaled["started_at"]).timestamp()
                fire_to_ready.append(ready - active)
                fire_to_post.append(arrived - active)
                exporter.set(0.1)
                _wait("back to one", lambda: _ready(server, "web", 1))
                _wait("the group is gone", lambda: not stack or not stack.alertmanager_groups())

                sent = time.time()
                httpx.post(up["url"], timeout=30).raise_for_status()
                post_to_ready.append(_wait("plain ready", lambda: _ready(server, "web", 2)) - sent)
                httpx.post(down["url"], timeout=30).raise_for_status()
                _wait("plain back to one", lambda: _ready(server, "web", 1))
        finally:
            if stack is not None:
                stack.stop()
            exporter.close()
            server.close()
    return fire_to_ready, fire_to_post, post_to_ready


def run(quick: bool) -> list[Figure]:
    alerts = 50 if quick else 500
    am, plain = asyncio.run(_post_to_scale(alerts))
    ms = [x * 1000 for x in am]
    base = [x * 1000 for x in plain]
    note = f"in process, {len(ms)} alert POSTs (firing, then resolved), SQLite"
    figures = [
        Figure(
            "alert POST -> backend scale call p50",
            percentile(ms, 50),
            "ms",
            "plain POST p50",
            percentile(base, 50),
            runs=len(ms),
            note=note,
        ),
        Figure(
            "alert POST -> backend scale call p99",
            percentile(ms, 99),
            "ms",
            "plain POST p99",
            percentile(base, 99),
            runs=len(ms),
            note=note,
        ),
    ]
    runs = 1 if quick else 3
    fire_to_ready, fire_to_post, post_to_ready = _end_to_end(runs)
    e2e = f"real Prometheus+Alertmanager, group_wait {GROUP_WAIT}, eval/scrape 1s"
    figures += [
        Figure(
            "rule firing -> replicas ready",
            median(fire_to_ready),
            "s",
            "plain POST -> replicas ready",
            median(post_to_ready),
            runs=runs,
            note=e2e,
        ),
        Figure(
            "rule firing -> POST at scalehook",
            median(fire_to_post),
            "s",
            runs=runs,
            note=f"Alertmanager group_wait {GROUP_WAIT}",
        ),
    ]
    return figures
