"""What every benchmark reports: a figure next to a baseline measured in the same run."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure (the median of several runs) and its same-run baseline."""

    name: str
    value: float
    unit: str
    baseline: str | None = None
    baseline_value: float | None = None
    runs: int = 1
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline_value in (None, 0):
            return None
        assert self.baseline_value is not None
        return self.value / self.baseline_value


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:.3g} {unit}"


def table(figures: Sequence[Figure], *, markdown: bool = False) -> str:
    header = ["figure", "value", "baseline", "baseline value", "ratio", "runs", "note"]
    rows = [header]
    for f in figures:
        ratio = f.ratio
        rows.append(
            [
                f.name,
                _fmt(f.value, f.unit),
                f.baseline or "-",
                _fmt(f.baseline_value, f.unit),
                "-" if ratio is None else f"{ratio:.2f}x",
                str(f.runs),
                f.note,
            ]
        )
    if markdown:
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )
