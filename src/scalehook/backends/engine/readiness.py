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
from typing import Literal

from scalehook.backends.engine import JSON

POLL = 0.25
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
