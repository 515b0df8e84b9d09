"""Bounded loopback load for the reliability tests: storms of triggers, and what they got.

Every storm has a fixed number of requests; a request that gets no answer (the server
was killed) is recorded with status 0, so a test can tell answered from unanswered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import psutil

from scalehook.testing import ServerProcess


@dataclass(frozen=True, slots=True)
class Answer:
    url: str
    status: int  # 0: no answer (connection refused or dropped)
    body: Any
    retry_after: str | None


async def _storm(
    urls: Sequence[str],
    total: int,
    concurrency: int,
    on_answer: Callable[[Answer], None] | None,
) -> list[Answer]:
    answers: list[Answer] = []
    next_index = 0
    # Idle connections are dropped by the client well before the server's keep-alive
    # timeout (5s) would close them: a request sent on one the server is closing at that
    # instant gets no answer, which would read as a dropped request.
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=2.0
    )
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def worker() -> None:
            nonlocal next_index
            while next_index < total:
                url = urls[next_index % len(urls)]
                next_index += 1
                try:
                    response = await client.post(url)
                except httpx.TransportError:
                    answer = Answer(url, 0, None, None)
                else:
                    try:
                        body = response.json()
                    except ValueError:
                        body = response.text
                    answer = Answer(
                        url, response.status_code, body, response.headers.get("retry-after")
                    )
                answers.append(answer)
                if on_answer is not None:
                    on_answer(answer)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return answers


def storm(
    urls: Sequence[str],
    *,
    total: int,
    concurrency: int,
    on_answer: Callable[[Answer], None] | None = None,
) -> list[Answer]:
    """POST ``total`` times, round-robin over ``urls``, from ``concurrency`` clients."""
    return asyncio.run(_storm(urls, total, concurrency, on_answer))


def same_record(execution: dict[str, Any]) -> dict[str, Any]:
    """An execution with its time parsed: the trigger and the listing spell UTC
    differently (``+00:00``, ``Z``)."""
    return {**execution, "started_at": datetime.fromisoformat(execution["started_at"])}


def by_id(found: Sequence[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Executions keyed by id, comparable between answers and the store."""
    return {e["id"]: same_record(e) for e in found}


def executions(server: ServerProcess, **filters: str) -> list[dict[str, Any]]:
    """Every recorded execution matching ``filters``, oldest first (pages through the API)."""
    found: list[dict[str, Any]] = []
    before: int | None = None
    while True:
        params: dict[str, Any] = {**filters, "limit": 1000}
        if before is not None:
            params["before"] = before
        response = server.client.get("/v1/executions", params=params)
        response.raise_for_status()
        page = response.json()
        found.extend(page)
        if len(page) < 1000:
            return sorted(found, key=lambda e: e["id"])
        before = page[-1]["id"]


def processes_with_env(name: str, value: str) -> list[psutil.Process]:
    """Live processes whose environment holds ``name=value`` (the OS process table)."""
    found = []
    for process in psutil.process_iter(["status"]):
        try:
            if process.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if process.environ().get(name) == value:
                found.append(process)
        except psutil.Error:
            continue
    return found
