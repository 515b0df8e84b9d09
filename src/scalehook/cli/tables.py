"""Plain text for people: tables for list commands, ``key: value`` records for one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items()) or "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def size(value: Any) -> Any:
    """Bytes as people read them: 19.8MiB."""
    if not isinstance(value, int):
        return value
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{amount:.0f}{unit}" if unit == "B" else f"{amount:.1f}{unit}"
        amount /= 1024
    return value


def render(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """``columns`` are (header, key) pairs; keys may be dotted (``config.service``)."""
    table = [[header for header, _ in columns]]
    for row in rows:
        table.append(
            [
                cell(size(_dig(row, key)) if key.endswith("_bytes") else _dig(row, key))
                for _, key in columns
            ]
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    return "\n".join(
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        for line in table
    )


def _dig(row: dict[str, Any], key: str) -> Any:
    value: Any = row
    for part in key.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def details(record: Mapping[str, Any], *, indent: int = 0) -> str:
    """One record as ``key: value`` lines, values aligned; a nested object (a receiver's
    config) follows as an indented block of its own, a list of objects as ``-`` items."""
    pad = " " * indent
    flat = {k: v for k, v in record.items() if not _nested(v)}
    nested = {k: v for k, v in record.items() if _nested(v)}
    width = max((len(str(k)) for k in flat), default=0) + 1
    lines = [f"{pad}{f'{key}:'.ljust(width)} {_scalar(value)}" for key, value in flat.items()]
    for key, value in nested.items():
        lines.append(f"{pad}{key}:")
        if isinstance(value, Mapping):
            lines.append(details(value, indent=indent + 2))
            continue
        for item in value:
            if isinstance(item, Mapping) and item:
                block = details(item, indent=indent + 4)
                lines.append(f"{pad}  - {block[indent + 4 :]}")
            else:
                lines.append(f"{pad}  - {_scalar(item)}")
    return "\n".join(lines)


def _nested(value: Any) -> bool:
    if isinstance(value, Mapping):
        return bool(value)
    return isinstance(value, list) and any(isinstance(v, Mapping | list) for v in value)


def _scalar(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_scalar(v) for v in value) or "-"
    if isinstance(value, float):
        return f"{value:g}"
    return cell(value)
