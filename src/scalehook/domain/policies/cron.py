"""Cron windows: when a schedule's window starts, in its time zone, and whether one is open.

A schedule (``{"cron": "0 8 * * 1-5", "duration": "10h", "timezone": "Europe/Berlin"}``)
opens a window at every time its cron expression names, on the wall clock of its zone,
and keeps it open for ``duration`` of real time. The five fields are Vixie cron's
(minute hour day-of-month month day-of-week) with lists, ranges, steps, month and day
names, 7 as Sunday, and the ``@hourly``/``@daily``/``@midnight``/``@weekly``/``@monthly``/
``@yearly``/``@annually`` shorthands; as in Vixie cron, when both day fields are
restricted (neither starts with ``*``) a day matching either one matches.

Daylight saving time (zone rules from ``zoneinfo``): a wall time that happens twice (the
autumn change) starts its window once, at the first occurrence; a wall time that does
not exist (the hour skipped in spring) starts it at the change itself, the first moment
after the gap (02:30 on the spring day in Berlin starts at 03:00 CEST), as Vixie cron
runs a job of the skipped hour right after it. With those two rules wall times map to
instants in order, so the latest start before a moment is found by walking back from it.

Pure: no clock of its own (``now`` comes in) and no parser from outside.
"""

from __future__ import annotations

import bisect
import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_SHORTHANDS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_FIELDS = ("minute", "hour", "day of month", "month", "day of week")
#: how far ahead a start is looked for: a 29 February start can be 8 years away (2096→2104)
_LOOKAHEAD_DAYS = 8 * 366 + 1


class CronError(ValueError):
    """A cron expression or a time zone that cannot be used, saying why."""


@dataclass(frozen=True, slots=True)
class Cron:
    """A parsed 5-field cron expression: the minutes, hours, days and months it names."""

    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Monday .. 6 = Sunday, as date.weekday()
    days_restricted: bool
    weekdays_restricted: bool

    @property
    def times(self) -> tuple[int, ...]:
        """Minutes after midnight at which a matching day starts a window, in order."""
        return tuple(h * 60 + m for h in self.hours for m in self.minutes)

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        in_days = day.day in self.days
        in_weekdays = day.weekday() in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return in_days or in_weekdays
        return in_days and in_weekdays


@lru_cache(maxsize=4096)
def parse_cron(text: str) -> Cron:
    """A ``Cron`` from ``"0 8 * * 1-5"`` (or a shorthand), or ``CronError`` saying why not.

    Cached: a policy's schedules are parsed once, not at every evaluation."""
    if not isinstance(text, str) or not text.strip():
        raise CronError("a cron expression has five fields, e.g. '0 8 * * 1-5'")
    expression = _SHORTHANDS.get(text.strip().lower(), text.strip())
    fields = expression.split()
    if len(fields) != 5:
        raise CronError(
            f"{text!r} has {len(fields)} field{'s' if len(fields) != 1 else ''}; a cron "
            "expression has five (minute hour day-of-month month day-of-week), e.g. '0 8 * * 1-5'"
        )
    minute, hour, day, month, weekday = fields
    minutes = _field(minute, 0, 59, 0, (), text)
    hours = _field(hour, 0, 23, 1, (), text)
    days = _field(day, 1, 31, 2, (), text)
    months = _field(month, 1, 12, 3, _MONTHS, text)
    weekdays_cron = _field(weekday, 0, 7, 4, _DAYS, text)
    weekdays = frozenset((d - 1) % 7 for d in weekdays_cron)  # cron 0/7 = Sunday → 6
    cron = Cron(
        text=text,
        minutes=tuple(sorted(minutes)),
        hours=tuple(sorted(hours)),
        days=frozenset(days),
        months=frozenset(months),
        weekdays=weekdays,
        days_restricted=not day.startswith("*"),
        weekdays_restricted=not weekday.startswith("*"),
    )
    if not any(_day_exists(d, m) for d in cron.days for m in cron.months) and not (
        cron.days_restricted and cron.weekdays_restricted
    ):
        raise CronError(f"{text!r} names no day that exists (e.g. 30 February)")
    return cron


def _day_exists(day: int, month: int) -> bool:
    return day <= (29 if month == 2 else calendar.monthrange(2001, month)[1])


def _field(
    text: str, low: int, high: int, index: int, names: tuple[str, ...], whole: str
) -> set[int]:
    what = _FIELDS[index]
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"{whole!r}: the {what} field has an empty list item")
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(
                    f"{whole!r}: the {what} step {step_text!r} is not a whole number > 0"
                )
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = (
                _value(first, low, high, what, names, whole),
                _value(last, low, high, what, names, whole),
            )
            if start > end:
                raise CronError(f"{whole!r}: the {what} range {base!r} runs backwards")
        else:
            start = _value(base, low, high, what, names, whole)
            end = high if slash else start
        values.update(range(start, end + 1, step))
    return values


def _value(text: str, low: int, high: int, what: str, names: tuple[str, ...], whole: str) -> int:
    lowered = text.lower()
    if names and lowered in names:
        return names.index(lowered) + (1 if names is _MONTHS else 0)
    if not text.isdigit():
        raise CronError(f"{whole!r}: {text!r} is not a {what} (write {low}-{high})")
    value = int(text)
    if not low <= value <= high:
        raise CronError(f"{whole!r}: {what} {value} is out of range {low}-{high}")
    return value


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``Europe/Berlin``, ``UTC``), or ``CronError``."""
    if not isinstance(name, str) or not name or name.startswith(("/", ".")) or ".." in name:
        raise CronError(f"{name!r} is not a time zone name such as 'Europe/Berlin' or 'UTC'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise CronError(
            f"{name!r} is not a known time zone (IANA names such as 'Europe/Berlin' or 'UTC')"
        ) from None


def start_instant(day: date, minute_of_day: int, tz: ZoneInfo) -> datetime:
    """The instant (UTC) at which the wall time ``day`` + ``minute_of_day`` begins in ``tz``.

    The first occurrence of a repeated wall time; the end of the gap for a skipped one."""
    wall = datetime(day.year, day.month, day.day, minute_of_day // 60, minute_of_day % 60)
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first
    # Skipped by a change (spring): the change happens between the two readings of the
    # wall time; find the first minute after it (changes fall on whole minutes).
    low = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)  # before the change
    high = first  # after it
    while high - low > timedelta(minutes=1):
        middle = low + (high - low) / 2
        middle = middle.replace(second=0, microsecond=0)
        if middle <= low:
            middle = low + timedelta(minutes=1)
        if middle.astimezone(tz).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return high


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime


def open_window(cron: Cron, tz: ZoneInfo, duration: float, now: datetime) -> Window | None:
    """The window open at ``now`` (the one that started last), or None."""
    now = now.astimezone(UTC)
    local = now.astimezone(tz)
    length = timedelta(seconds=duration)
    times = cron.times
    day = local.date()
    # A start can only still be open if it came less than `duration` ago.
    oldest = (now - length - timedelta(days=1)).astimezone(tz).date()
    # Wall times on the current day later than now (plus a margin for a DST change)
    # cannot have started yet: skip them.
    limit = local.hour * 60 + local.minute + 180
    while day >= oldest:
        if cron.matches_day(day):
            top = bisect.bisect_right(times, limit) if day == local.date() else len(times)
            for minute in reversed(times[:top]):
                start = start_instant(day, minute, tz)
                if start <= now:
                    # The latest start: wall times map to instants in order.
                    end = start + length
                    return Window(start, end) if now < end else None
        day -= timedelta(days=1)
    return None


def next_start(cron: Cron, tz: ZoneInfo, after: datetime) -> datetime | None:
    """The first start strictly after ``after``, looking up to eight years ahead."""
    after = after.astimezone(UTC)
    day = after.astimezone(tz).date() - timedelta(days=1)
    last = day + timedelta(days=_LOOKAHEAD_DAYS)
    times = cron.times
    while day <= last:
        if day.month not in cron.months:
            # jump to the first of the next month
            day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
            continue
        if cron.matches_day(day):
            for minute in times:
                start = start_instant(day, minute, tz)
                if start > after:
                    return start
        day += timedelta(days=1)
    return None
