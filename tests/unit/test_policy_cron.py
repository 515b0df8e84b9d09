"""Cron windows: parsing, and windows in a time zone across DST changes (Europe/Berlin)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalehook.domain.policies.cron import (
    CronError,
    Window,
    next_start,
    open_window,
    parse_cron,
    start_instant,
    zone,
)

BERLIN = ZoneInfo("Europe/Berlin")
HOURS = 3600.0


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def berlin(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    *,
    fold: int = 0,
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=BERLIN, fold=fold)


# -- parsing -----------------------------------------------------------------------------


def test_fields() -> None:
    cron = parse_cron("0 8 * * 1-5")
    assert cron.minutes == (0,)
    assert cron.hours == (8,)
    assert cron.weekdays == frozenset(range(5))  # Monday..Friday as date.weekday()
    assert not cron.days_restricted
    assert cron.weekdays_restricted


@pytest.mark.parametrize(
    ("text", "minutes", "hours"),
    [
        ("*/15 * * * *", (0, 15, 30, 45), tuple(range(24))),
        ("5,10-12 0-6/3 * * *", (5, 10, 11, 12), (0, 3, 6)),
        ("30/10 9 * * *", (30, 40, 50), (9,)),
        ("@hourly", (0,), tuple(range(24))),
        ("@daily", (0,), (0,)),
    ],
)
def test_lists_ranges_steps_shorthands(
    text: str, minutes: tuple[int, ...], hours: tuple[int, ...]
) -> None:
    cron = parse_cron(text)
    assert (cron.minutes, cron.hours) == (minutes, hours)


def test_names_and_sunday_as_7() -> None:
    cron = parse_cron("0 0 * jan-mar,DEC sun,7,Sat")
    assert cron.months == frozenset({1, 2, 3, 12})
    assert cron.weekdays == frozenset({6, 5})


def test_day_fields_or_when_both_are_restricted() -> None:
    # Vixie cron: the 1st of the month OR a Monday
    cron = parse_cron("0 0 1 * 1")
    assert cron.matches_day(datetime(2024, 5, 1).date())  # a Wednesday, the 1st
    assert cron.matches_day(datetime(2024, 5, 6).date())  # a Monday
    assert not cron.matches_day(datetime(2024, 5, 7).date())
    # a step in the day field starts with "*": AND
    cron = parse_cron("0 0 */2 * 1")
    assert not cron.matches_day(datetime(2024, 5, 1).date())  # odd day, not a Monday
    assert cron.matches_day(datetime(2024, 5, 13).date())  # the 13th is odd and a Monday


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("0 8 * *", "has 4 fields"),
        ("0 8 * * * *", "has 6 fields"),
        ("60 8 * * *", "minute 60 is out of range 0-59"),
        ("0 24 * * *", "hour 24 is out of range 0-23"),
        ("0 8 0 * *", "day of month 0 is out of range 1-31"),
        ("0 8 * 13 *", "month 13 is out of range 1-12"),
        ("0 8 * * 1-8", "day of week 8 is out of range 0-7"),
        ("0 8 * * fri-mon", "runs backwards"),
        ("*/0 8 * * *", "step '0' is not a whole number"),
        ("0 8 * * x", "'x' is not a day of week"),
        ("0 8 30 2 *", "names no day that exists"),
        ("0 8 ,1 * *", "empty list item"),
        ("", "five fields"),
    ],
)
def test_refused(text: str, words: str) -> None:
    with pytest.raises(CronError, match=words):
        parse_cron(text)


def test_29_february_exists() -> None:
    cron = parse_cron("0 0 29 2 *")
    assert next_start(cron, zone("UTC"), utc(2024, 3, 1)) == utc(2028, 2, 29)


def test_zones() -> None:
    assert zone("Europe/Berlin") == BERLIN
    for bad in ("Mars/Base", "", "../etc/passwd", "/etc/localtime"):
        with pytest.raises(CronError, match="time zone"):
            zone(bad)


# -- windows -----------------------------------------------------------------------------


BUSINESS = parse_cron("0 8 * * 1-5")


def test_business_hours_window() -> None:
    monday = berlin(2024, 3, 4, 8, 0)
    assert open_window(BUSINESS, BERLIN, 10 * HOURS, monday - timedelta(seconds=1)) is None
    window = open_window(BUSINESS, BERLIN, 10 * HOURS, monday)
    assert window == Window(monday.astimezone(UTC), berlin(2024, 3, 4, 18, 0).astimezone(UTC))
    assert open_window(BUSINESS, BERLIN, 10 * HOURS, berlin(2024, 3, 4, 17, 59, 59)) == window
    assert open_window(BUSINESS, BERLIN, 10 * HOURS, berlin(2024, 3, 4, 18, 0)) is None
    assert open_window(BUSINESS, BERLIN, 10 * HOURS, berlin(2024, 3, 9, 10, 0)) is None  # Sat


def test_business_hours_follow_the_wall_clock_over_the_spring_change() -> None:
    # Friday 29 March 2024: CET (+1); Monday 1 April: CEST (+2). 08:00 local both days.
    friday = open_window(BUSINESS, BERLIN, 10 * HOURS, utc(2024, 3, 29, 7, 0))
    monday = open_window(BUSINESS, BERLIN, 10 * HOURS, utc(2024, 4, 1, 6, 0))
    assert friday is not None
    assert monday is not None
    assert friday.start == utc(2024, 3, 29, 7, 0)
    assert monday.start == utc(2024, 4, 1, 6, 0)
    assert open_window(BUSINESS, BERLIN, 10 * HOURS, utc(2024, 4, 1, 5, 59)) is None


def test_a_start_in_the_skipped_hour_begins_at_the_change() -> None:
    # 31 March 2024, Berlin: 02:00 CET → 03:00 CEST (01:00 UTC); 02:30 never happens.
    cron = parse_cron("30 2 * * *")
    assert start_instant(datetime(2024, 3, 31).date(), 150, BERLIN) == utc(2024, 3, 31, 1, 0)
    window = open_window(cron, BERLIN, HOURS, utc(2024, 3, 31, 1, 30))
    assert window == Window(utc(2024, 3, 31, 1, 0), utc(2024, 3, 31, 2, 0))
    assert open_window(cron, BERLIN, HOURS, utc(2024, 3, 31, 0, 59)) is None
    # the days around it: 02:30 local as usual
    assert open_window(cron, BERLIN, HOURS, utc(2024, 3, 30, 1, 30)) is not None  # CET
    assert open_window(cron, BERLIN, HOURS, utc(2024, 4, 1, 0, 30)) is not None  # CEST


def test_a_start_in_the_repeated_hour_begins_once() -> None:
    # 27 October 2024, Berlin: 03:00 CEST → 02:00 CET (01:00 UTC); 02:30 happens twice.
    cron = parse_cron("30 2 * * *")
    first = berlin(2024, 10, 27, 2, 30, fold=0).astimezone(UTC)
    assert first == utc(2024, 10, 27, 0, 30)
    window = open_window(cron, BERLIN, HOURS, first + timedelta(minutes=10))
    assert window == Window(first, utc(2024, 10, 27, 1, 30))
    # The second 02:30 (CET, 01:30 UTC) starts nothing: the window closed at that moment.
    second = berlin(2024, 10, 27, 2, 30, fold=1).astimezone(UTC)
    assert open_window(cron, BERLIN, HOURS, second) is None
    assert open_window(cron, BERLIN, HOURS, second + timedelta(minutes=15)) is None


def test_duration_is_real_time_across_a_change() -> None:
    # midnight + 6 h on the spring day ends at 07:00 CEST (05:00 UTC), not 06:00 local
    cron = parse_cron("0 0 * * *")
    window = open_window(cron, BERLIN, 6 * HOURS, utc(2024, 3, 31, 4, 0))
    assert window == Window(utc(2024, 3, 30, 23, 0), utc(2024, 3, 31, 5, 0))
    assert window.end.astimezone(BERLIN).hour == 7


def test_windows_longer_than_a_day_and_overlapping() -> None:
    weekly = parse_cron("0 0 * * 1")  # Monday midnight, UTC, for 5 days
    assert open_window(weekly, zone("UTC"), 5 * 24 * HOURS, utc(2024, 3, 8, 23, 59)) is not None
    assert open_window(weekly, zone("UTC"), 5 * 24 * HOURS, utc(2024, 3, 9, 0, 0)) is None
    hourly = parse_cron("0 * * * *")  # every hour for 2 hours: always open, latest start
    window = open_window(hourly, zone("UTC"), 2 * HOURS, utc(2024, 3, 8, 10, 30))
    assert window == Window(utc(2024, 3, 8, 10, 0), utc(2024, 3, 8, 12, 0))


def test_next_start() -> None:
    assert next_start(BUSINESS, BERLIN, berlin(2024, 3, 8, 18, 0)) == berlin(2024, 3, 11, 8, 0)
    # strictly after
    assert next_start(BUSINESS, BERLIN, berlin(2024, 3, 11, 8, 0)) == berlin(2024, 3, 12, 8, 0)
    december = parse_cron("0 12 24 12 *")
    assert next_start(december, BERLIN, berlin(2024, 12, 25, 0, 0)) == berlin(2025, 12, 24, 12, 0)


# -- the windows against a brute-force walk over every minute ----------------------------

CRONS = ["0 8 * * 1-5", "30 2 * * *", "*/20 1-3 * * *", "15 0 1,15 * *", "0 2 * 3,10 0", "@hourly"]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]


def brute_starts(text: str, tz: ZoneInfo, since: datetime, until: datetime) -> list[datetime]:
    """Every start in (since, until], minute by minute: a wall minute that matches, at its
    first occurrence; a matching wall minute skipped by a change, at the change."""
    cron = parse_cron(text)
    starts = []
    moment = since.replace(second=0, microsecond=0)
    highest = moment.astimezone(tz).replace(tzinfo=None)  # the latest wall minute seen
    while moment < until:
        moment += timedelta(minutes=1)
        wall = moment.astimezone(tz).replace(tzinfo=None)
        walls = []
        while highest < wall:  # new wall minutes (more than one: a skipped stretch)
            highest += timedelta(minutes=1)
            walls.append(highest)
        # (no new wall minute: the repeated hour, whose minutes started once already)
        if since < moment <= until and any(
            cron.matches_day(w.date()) and w.hour in cron.hours and w.minute in cron.minutes
            for w in walls
        ):
            starts.append(moment)
    return starts


CHANGES = [
    utc(2024, 3, 10, 7),  # America/New_York springs forward
    utc(2024, 3, 31, 1),  # Europe/Berlin springs forward
    utc(2024, 4, 6, 15),  # Australia/Lord_Howe falls back half an hour
    utc(2024, 10, 5, 15),  # Australia/Lord_Howe springs forward half an hour
    utc(2024, 10, 27, 1),  # Europe/Berlin falls back
    utc(2024, 11, 3, 6),  # America/New_York falls back
]


@settings(max_examples=60, deadline=None)
@given(
    text=st.sampled_from(CRONS),
    zone_name=st.sampled_from(ZONES),
    offset=st.integers(0, 4 * 366 * 24 * 60),
    near=st.sampled_from([None, *CHANGES]),
    duration=st.integers(1, 36 * 60),
)
def test_open_window_matches_a_walk_over_minutes(
    text: str, zone_name: str, offset: int, near: datetime | None, duration: int
) -> None:
    tz = ZoneInfo(zone_name)
    if near is None:
        now = utc(2024, 1, 1) + timedelta(minutes=offset)
    else:  # within a day and a half of a change
        now = near + timedelta(minutes=offset % (3 * 24 * 60) - 36 * 60)
    length = timedelta(minutes=duration)
    starts = brute_starts(text, tz, now - length, now)
    window = open_window(parse_cron(text), tz, length.total_seconds(), now)
    if starts:
        assert window == Window(starts[-1], starts[-1] + length)
    else:
        assert window is None
