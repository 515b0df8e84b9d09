"""Is a container a rollout started ready yet, and if not, why not.

Ready means running and, when the image or the container has a HEALTHCHECK, healthy.
A container that is unhealthy, exited or restarting has failed: the batch fails at
once, as Swarm fails such a task, instead of waiting out the health timeout. The docker
backend gates its batches with this; the swarm backend says with it why a task failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from scalehook.backends.engine import JSON
from scalehook.backends.engine.stats import engine_time

POLL = 0.25
NO_CHECK_WAIT = 10.0
"""Seconds a container without a HEALTHCHECK gets to be running."""
_SECOND = 1e9  # the Engine API counts durations in nanoseconds
# Docker's defaults for a HEALTHCHECK that leaves them out
_INTERVAL, _TIMEOUT, _RETRIES = 30.0, 30.0, 3
_FAILED = frozenset({"exited", "dead", "restarting", "removing"})

Verdict = Literal["ready", "waiting", "failed"]


@dataclass(frozen=True, slots=True)
class Readiness:
    verdict: Verdict
    detail: str = ""


def readiness(record: JSON | None) -> Readiness:
    """The verdict on one container from its inspect record (None: it is gone)."""
    if record is None:
        return Readiness("failed", "it was removed")
    state = record.get("State") or {}
    status = str(state.get("Status") or "")
    health = state.get("Health") or None
    if health is not None and health.get("Status") == "unhealthy":
        return Readiness("failed", f"it is unhealthy{_last_check(health)}")
    if status in _FAILED or int(record.get("RestartCount") or 0) > 0:
        detail = f"it exited with code {state.get('ExitCode', '?')}"
        if state.get("Error"):
            detail += f": {state['Error']}"
        return Readiness("failed", detail)
    if status == "running" and (health is None or health.get("Status") == "healthy"):
        return Readiness("ready")
    if health is not None:
        return Readiness("waiting", f"health: {health.get('Status')}{_last_check(health)}")
    return Readiness("waiting", status or "unknown")


def ready_since(record: JSON) -> datetime | None:
    """When a container last became ready: the end of the first passing check of its
    last healthy streak, or its start when it has no HEALTHCHECK; None while not ready.

    The engine keeps the last 5 checks: for a streak longer than that, this is the
    oldest pass it kept (it has been ready at least since then)."""
    state = record.get("State") or {}
    if state.get("Status") != "running":
        return None
    health = state.get("Health") or None
    if health is None:
        return engine_time(str(state.get("StartedAt") or ""))
    if health.get("Status") != "healthy":
        return None
    since = None
    for check in reversed(health.get("Log") or []):
        if check.get("ExitCode") != 0:
            break
        since = engine_time(str(check.get("End") or check.get("Start") or "")) or since
    return since


def health_window(record: JSON) -> float:
    """Seconds a new container of this config may take before its engine calls it
    healthy or unhealthy: start period + (retries + 1) * (interval + timeout). A
    container without a HEALTHCHECK is ready once running: :data:`NO_CHECK_WAIT`."""
    check = (record.get("Config") or {}).get("Healthcheck") or {}
    test = check.get("Test") or []
    if not test or test[0] == "NONE":
        return NO_CHECK_WAIT
    interval = (check.get("Interval") or 0) / _SECOND or _INTERVAL
    timeout = (check.get("Timeout") or 0) / _SECOND or _TIMEOUT
    retries = int(check.get("Retries") or 0) or _RETRIES
    start = (check.get("StartPeriod") or 0) / _SECOND
    return start + (retries + 1) * (interval + timeout)


def _last_check(health: JSON) -> str:
    log = health.get("Log") or []
    if not log:
        return ""
    output = " ".join(str(log[-1].get("Output") or "").split())[:200]
    code = log[-1].get("ExitCode")
    return f" (last check: exit {code}{', ' + output if output else ''})"


async def wait_ready(
    inspect: Callable[[str], Awaitable[JSON | None]],
    containers: Mapping[str, str],
    *,
    image: str,
    timeout: float,
) -> tuple[bool, str]:
    """Wait until every container (id → name) is ready, one fails, or ``timeout``
    passes; (all ready, why not)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    waiting = dict(containers)
    last: dict[str, Readiness] = {}
    while True:
        records = await asyncio.gather(*(inspect(c) for c in waiting))
        for container, record in zip(list(waiting), records, strict=True):
            found = readiness(record)
            last[container] = found
            if found.verdict == "ready":
                del waiting[container]
            elif found.verdict == "failed":
                return False, f"{containers[container]} ({image}) failed: {found.detail}"
        if not waiting:
            return True, ""
        if loop.time() >= deadline:
            reasons = [
                f"{containers[c]} ({image}) was not ready within {timeout:g}s ({last[c].detail})"
                for c in waiting
            ]
            return False, "; ".join(reasons)
        await asyncio.sleep(min(POLL, max(0.0, deadline - loop.time())))
