"""The log levels a user may name in ``scalehook.yaml``: checked when the file is read,
so ``log_level: verbose`` is a config error naming the choices, not a traceback later."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BeforeValidator

Level = Literal["debug", "info", "warning", "error", "critical"]
LEVELS: tuple[str, ...] = get_args(Level)


def _read_level(value: object) -> object:
    if not isinstance(value, str) or value.strip().lower() not in LEVELS:
        raise ValueError(f"{value!r} is not a log level: use one of {', '.join(LEVELS)}")
    return value.strip().lower()


#: a level, case-insensitive (``INFO`` is ``info``)
LogLevel = Annotated[Level, BeforeValidator(_read_level)]
