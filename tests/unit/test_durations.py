"""Durations: Prometheus's form (``1m30s``, ``1d``) and seconds, with errors that say why."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from scalehook.domain.durations import Duration, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1m30s", 90.0),
        ("1h30m", 5400.0),
        ("1d", 86400.0),
        ("2w", 14 * 86400.0),
        ("1y", 365 * 86400.0),
        ("1y2w3d4h5m6s7ms", ((((365 + 14 + 3) * 24 + 4) * 60 + 5) * 60 + 6) + 0.007),
        ("90s", 90.0),
        ("500ms", 0.5),
        ("1s500ms", 1.5),
        ("2", 2.0),
        ("0.5", 0.5),
        ("1.5s", 1.5),
        ("1.5m", 90.0),
        ("0", 0.0),
        ("0s", 0.0),
        (" 1h 30m ", 5400.0),
        (2, 2.0),
        (0.25, 0.25),
    ],
)
def test_durations_people_write(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds, abs=1e-9)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "cannot be empty"),
        ("   ", "cannot be empty"),
        ("soon", "'soon' is not a duration"),
        ("-1s", "cannot be negative"),
        (-1, "cannot be negative"),
        ("5x", "'x' is not a unit of duration"),
        ("1H", "'H' is not a unit of duration"),
        ("30s1m", "from the largest to the smallest"),
        ("1h1h", "each once"),
        ("1.5h30m", "each number is whole"),
        ("1h30", "is not a duration"),
        (math.inf, "finite"),
        (math.nan, "finite"),
        (True, "number of seconds"),
        (None, "number of seconds"),
        ([1], "number of seconds"),
    ],
)
def test_bad_durations_say_what_is_wrong(text: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


def test_a_bad_duration_in_a_model_is_a_validation_error() -> None:
    class Settings(BaseModel):
        timeout: Duration = 1.0

    assert Settings(timeout="1m30s").timeout == 90.0
    with pytest.raises(ValidationError, match="from the largest to the smallest"):
        Settings(timeout="30s1m")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (90, "1m30s"),
        (0.25, "250ms"),
        (5400, "1h30m"),
        (86400, "1d"),
        (90 * 86400, "90d"),
        (14 * 86400, "2w"),
        (365 * 86400, "1y"),
        (0.0001, "0.0001s"),
    ],
)
def test_the_prometheus_form_is_written(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.integers(0, 10**15))
def test_whole_milliseconds_round_trip(ms: int) -> None:
    seconds = ms / 1000
    text = format_duration(seconds)
    assert parse_duration(text) == seconds
    assert "." not in text


@given(st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False))
def test_any_duration_round_trips(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@given(
    st.lists(st.integers(0, 999), min_size=7, max_size=7).map(
        lambda counts: "".join(
            f"{count}{unit}"
            for count, unit in zip(counts, ["y", "w", "d", "h", "m", "s", "ms"], strict=True)
            if count
        )
    )
)
def test_any_prometheus_duration_reads_and_rewrites_to_the_same_length(text: str) -> None:
    seconds = parse_duration(text or "0s")
    assert parse_duration(format_duration(seconds)) == seconds
