"""Durations as people write them in config: seconds, or Prometheus's form.

Prometheus and Alertmanager users write ``1m30s``, ``1h30m``, ``1d``; scalehook reads
those the way Prometheus's ``model.ParseDuration`` does (units ``ms``, ``s``, ``m``,
``h``, ``d``, ``w`` = 7d, ``y`` = 365d, whole numbers, from the largest unit to the
smallest, each once), and also one decimal number with or without a unit (``1.5s``,
``0.5``, ``2``: seconds). ``format_duration`` writes the Prometheus form back.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from itertools import pairwise
from typing import Annotated

from pydantic import BeforeValidator

#: milliseconds per unit, largest first (the order units must come in)
_UNIT_MS = {
    "y": 365 * 86_400_000,
    "w": 7 * 86_400_000,
    "d": 86_400_000,
    "h": 3_600_000,
    "m": 60_000,
    "s": 1000,
    "ms": 1,
}
_UNITS = ", ".join(_UNIT_MS)
_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([^\d\s.]+)")
_EXAMPLES = "write e.g. '500ms', '90s', '1m30s', '1h', '1d' or a number of seconds"


def parse_duration(value: object) -> float:
    """Seconds from ``"1m30s"``, ``"1.5s"``, ``"250ms"``, ``"1d"``, ``3`` or ``0.5``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"a duration is a number of seconds or a string such as '1s'; {_EXAMPLES}")
    seconds = float(value) if not isinstance(value, str) else _parse_text(value)
    if math.isnan(seconds) or math.isinf(seconds):
        raise ValueError("a duration must be a finite number of seconds")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def _parse_text(value: str) -> float:
    text = value.strip()
    if not text:
        raise ValueError(f"a duration cannot be empty; {_EXAMPLES}")
    if text.startswith("-"):
        raise ValueError("a duration cannot be negative")
    if _NUMBER.match(text):
        return float(Decimal(text))
    parts: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        match = _PART.match(text, position)
        if match is None:
            raise ValueError(f"{value!r} is not a duration; {_EXAMPLES}")
        parts.append((match.group(1), match.group(2)))
        position = match.end()
    for _, unit in parts:
        if unit not in _UNIT_MS:
            raise ValueError(f"{value!r}: {unit!r} is not a unit of duration (use {_UNITS})")
    if len(parts) == 1:
        number, unit = parts[0]
        return float(Decimal(number) * _UNIT_MS[unit] / 1000)
    order = [list(_UNIT_MS).index(unit) for _, unit in parts]
    if any(later <= earlier for earlier, later in pairwise(order)):
        raise ValueError(
            f"{value!r}: units go from the largest to the smallest, each once ({_UNITS}), "
            "e.g. '1h30m'"
        )
    if any("." in number for number, _ in parts):
        raise ValueError(
            f"{value!r}: in a duration of several units each number is whole, e.g. '1h30m'"
        )
    return sum(int(number) * _UNIT_MS[unit] for number, unit in parts) / 1000


def format_duration(seconds: float) -> str:
    """The Prometheus form of a duration (``90`` is ``1m30s``), as ``parse_duration`` reads.

    Years and weeks are used only when they divide evenly ("90d", not "12w6d"), as
    Prometheus does; a duration finer than a millisecond is written in seconds."""
    if seconds < 0 or math.isnan(seconds) or math.isinf(seconds):
        raise ValueError("only a finite duration of zero or more seconds can be written")
    ms = round(seconds * 1000)
    if ms / 1000 != seconds:
        return f"{Decimal(repr(seconds)):f}s"
    if ms == 0:
        return "0s"
    text = ""
    for unit, unit_ms in _UNIT_MS.items():
        if unit in ("y", "w") and ms % unit_ms:
            continue
        count, ms = divmod(ms, unit_ms)
        if count:
            text += f"{count}{unit}"
    return text


Duration = Annotated[float, BeforeValidator(parse_duration, json_schema_input_type=float | str)]
