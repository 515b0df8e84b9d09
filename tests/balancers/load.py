"""A steady loopback load through HAProxy: concurrent clients sending GET after GET
until stopped, counting every answer and every failure (a status other than 200, or no
answer at all), and which replica answered."""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType

import httpx

_REPLICA = re.compile(r"hello from (\S+)")


@dataclass(slots=True)
class Tally:
    ok: int = 0
    failed: list[str] = field(default_factory=list)  # what went wrong, one per request
    by_replica: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return self.ok + len(self.failed)


class Load:
    """``with Load(url, clients=4) as load: ...``; then ``load.tally``."""

    def __init__(self, url: str, *, clients: int = 4, keep_alive: bool = True) -> None:
        self.url = url
        self.clients = clients
        self.keep_alive = keep_alive
        self.tally = Tally()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> Tally:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
        return self.tally

    def seen(self) -> set[str]:
        with self._lock:
            return set(self.tally.by_replica)

    def reset_seen(self) -> None:
        with self._lock:
            self.tally.by_replica.clear()

    def _run(self) -> None:
        limits = httpx.Limits(max_keepalive_connections=1 if self.keep_alive else 0)
        with httpx.Client(timeout=10, limits=limits) as client:
            while not self._stop.is_set():
                try:
                    response = client.get(self.url)
                except httpx.HTTPError as exc:
                    self._record(f"{type(exc).__name__}: {exc}", None)
                    continue
                if response.status_code != 200:
                    self._record(f"HTTP {response.status_code}: {response.text[:80]!r}", None)
                    continue
                match = _REPLICA.match(response.text)
                self._record(None, match.group(1) if match else "?")

    def _record(self, failure: str | None, replica: str | None) -> None:
        with self._lock:
            if failure is not None:
                self.tally.failed.append(failure)
            else:
                self.tally.ok += 1
                self.tally.by_replica[replica or "?"] += 1
