"""Durations, the rate limiter, keyed locks and trigger keys."""

from __future__ import annotations

import asyncio

import pytest

from scalehook.domain.durations import parse_duration
from scalehook.domain.receivers import KEY_PREFIX, hash_key, new_key
from scalehook.locks import KeyedLocks
from scalehook.loops import ManualClock
from scalehook.ratelimit import RateLimiter


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1.0), ("250ms", 0.25), ("2m", 120.0), ("1h", 3600.0), (3, 3.0), ("1.5", 1.5)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "-1s", True, None, "1x"])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


async def test_rate_limiter_bursts_then_refills() -> None:
    clock = ManualClock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock.monotonic)
    assert [limiter.take("r") for _ in range(3)] == [None, None, None]
    wait = limiter.take("r")
    assert wait == pytest.approx(0.5)
    assert limiter.take("other") is None
    await clock.advance(0.5)
    assert limiter.take("r") is None
    assert limiter.take("r") is not None


def test_keys_are_long_random_and_hashed() -> None:
    keys = {new_key() for _ in range(100)}
    assert len(keys) == 100
    for key in keys:
        assert key.startswith(KEY_PREFIX)
        assert len(key) - len(KEY_PREFIX) >= 43  # 256 bits in URL-safe base64
        assert len(hash_key(key)) == 64
        assert key not in hash_key(key)


async def test_keyed_locks_serialise_one_key_and_drop_idle_ones() -> None:
    locks = KeyedLocks()
    order: list[str] = []

    async def work(key: str, tag: str) -> None:
        async with locks.hold(key):
            order.append(f"{tag}+")
            await asyncio.sleep(0.01)
            order.append(f"{tag}-")

    await asyncio.gather(work("a", "1"), work("a", "2"), work("b", "3"))
    assert order.index("1-") < order.index("2+")
    assert len(locks) == 0
