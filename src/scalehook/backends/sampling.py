"""The readings a backend keeps between samples, so that CPU% costs one reading.

CPU% is the difference of two readings of a replica's CPU counter over the time between
them. Reading twice per sample (and sleeping between) would make every sample slow, so
each backend keeps the last reading of each replica and compares the next one with it:
the first sample of a replica has no CPU% (``None``, never 0), the later ones cover
the time since the one before.

Several readers (the API, a policy loop) may sample one service: a reading taken right
after another would cover a few milliseconds, shorter than the counters' resolution.
So a window is at least :data:`MIN_WINDOW`: a reading too close to the last one is
compared with the one before, and does not replace the last.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Generic, Protocol, TypeVar

MIN_WINDOW = 0.5
"""Seconds a CPU% covers at least (the kernel counts CPU time in 10 ms ticks)."""


class Timed(Protocol):
    @property
    def at(self) -> float:
        """When the reading was taken, in seconds on a clock that only moves forward."""
        ...


R = TypeVar("R", bound=Timed)
K = TypeVar("K", bound=Hashable)


class Readings(Generic[K, R]):
    """The last reading (and the one before) of each replica, by key (pid, container)."""

    def __init__(self, *, min_window: float = MIN_WINDOW) -> None:
        self._min_window = min_window
        self._last: dict[K, tuple[R | None, R]] = {}
        self._groups: dict[str, set[K]] = {}

    def add(self, key: K, reading: R) -> R | None:
        """Keep ``reading``; return the earlier reading its CPU% is to be computed from
        (None: the first of this replica)."""
        kept = self._last.get(key)
        if kept is None:
            self._last[key] = (None, reading)
            return None
        before, last = kept
        if reading.at - last.at >= self._min_window:
            self._last[key] = (last, reading)
            return last
        return before  # too close to the last one: measured from the one before

    def restart(self, key: K, reading: R) -> None:
        """The counters went back (the replica restarted): start again from ``reading``."""
        self._last[key] = (None, reading)

    def only(self, group: str, keys: Iterable[K]) -> None:
        """``keys`` are now all the replicas of ``group`` (a service): forget the readings
        of its replicas that are gone."""
        now = set(keys)
        for key in self._groups.get(group, set()) - now:
            self._last.pop(key, None)
        if now:
            self._groups[group] = now
        else:
            self._groups.pop(group, None)

    def __contains__(self, key: object) -> bool:
        return key in self._last

    def __len__(self) -> int:
        return len(self._last)
