"""CPU and memory limits of a service's replicas, as asked and as recorded.

A limit is per replica (each process, container or task may use at most this much),
as Docker's ``--cpus``/``--memory`` and Swarm's ``Resources.Limits`` are. ``None``
means no limit. A change names the limits it sets and leaves the others as they are;
``null`` removes one. Memory is written as Kubernetes writes a quantity: bytes, or a
number with ``Ki``/``Mi``/``Gi``/``Ti`` (powers of 1024) or ``k``/``M``/``G``/``T``
(powers of 1000). A lone ``m`` is refused: Kubernetes reads it as milli and Docker as
MiB, so it means two things.

Pure: the backends apply limits, the executor records them (before and after) in the
execution, and ``revision_resources`` is what a revision of a resources change keeps.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final

MIN_CPUS: Final = 0.01  # the smallest CPU quota every engine takes (1 ms per 100 ms)
MIN_MEMORY: Final = 6 * 1024 * 1024  # Docker's smallest memory limit
MAX_MEMORY: Final = 2**62  # anything at or above reads as "no limit"

_UNITS: Final = {
    "": 1,
    "k": 1000,
    "K": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "T": 1000**4,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
}
_QUANTITY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")
_EXAMPLES = "write e.g. '256Mi', '1Gi', '512M' or a number of bytes"


@dataclass(frozen=True, slots=True)
class Resources:
    """What each replica of a service may use; ``None``: no limit."""

    cpus: float | None = None  # cores
    memory: int | None = None  # bytes

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: cores, bytes, and the bytes as people write them."""
        return {
            "cpus": self.cpus,
            "memory": self.memory,
            "memory_text": None if self.memory is None else format_memory(self.memory),
        }

    def describe(self) -> str:
        cpus = "no CPU limit" if self.cpus is None else f"{self.cpus:g} CPU"
        memory = "no memory limit" if self.memory is None else format_memory(self.memory)
        return f"{cpus}, {memory}"


class _Keep:
    """The value of a limit a change does not name: it stays as it is."""

    _instance: _Keep | None = None

    def __new__(cls) -> _Keep:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = _Keep()


@dataclass(frozen=True, slots=True)
class ResourcesChange:
    """A change of limits: each is a new value, ``None`` (remove it) or ``KEEP``."""

    cpus: float | _Keep | None = KEEP
    memory: int | _Keep | None = KEEP

    def applied_to(self, current: Resources) -> Resources:
        return Resources(
            cpus=current.cpus if isinstance(self.cpus, _Keep) else self.cpus,
            memory=current.memory if isinstance(self.memory, _Keep) else self.memory,
        )

    @property
    def empty(self) -> bool:
        return isinstance(self.cpus, _Keep) and isinstance(self.memory, _Keep)


def parse_cpus(value: object) -> float:
    """Cores from a number (``0.5``, ``2``); ``ValueError`` saying what is wrong."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("a number of cores, e.g. 0.5 or 2")
    try:
        cpus = float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a number of cores (e.g. 0.5 or 2)") from None
    if math.isnan(cpus) or math.isinf(cpus):
        raise ValueError("must be a finite number of cores")
    if cpus <= 0:
        raise ValueError("must be greater than 0 (null removes the limit)")
    if cpus < MIN_CPUS:
        raise ValueError(f"must be at least {MIN_CPUS:g}")
    return round(cpus, 3)


def parse_memory(value: object) -> int:
    """Bytes from ``"256Mi"``, ``"1.5Gi"``, ``"512M"`` or a number of bytes;
    ``ValueError`` saying what is wrong."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"a size; {_EXAMPLES}")
    if isinstance(value, int | float):
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            raise ValueError("must be a finite number of bytes")
        size = int(value)
    else:
        match = _QUANTITY.match(value)
        if match is None:
            raise ValueError(f"{value!r} is not a size; {_EXAMPLES}")
        number, unit = match.groups()
        if unit in ("m", "mi", "Mb", "mb", "MB", "MiB"):
            raise ValueError(
                f"{value!r}: write 'Mi' (MiB, 1024²) or 'M' (MB, 1000²); "
                "'m' means milli in Kubernetes and MiB in Docker"
            )
        if unit not in _UNITS:
            units = ", ".join(u for u in _UNITS if u)
            raise ValueError(f"{value!r}: {unit!r} is not a unit of size (use {units})")
        try:
            size = int(Decimal(number) * _UNITS[unit])
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            raise ValueError(f"{value!r} is not a size; {_EXAMPLES}") from None
    if size < MIN_MEMORY:
        raise ValueError(f"must be at least 6Mi ({MIN_MEMORY} bytes); null removes the limit")
    if size >= MAX_MEMORY:
        raise ValueError("larger than any machine; null removes the limit")
    return size


def format_memory(size: int) -> str:
    """Bytes as people write them: ``256Mi``, ``1.5Gi``, ``512M``, else the bytes."""
    for unit in ("Ti", "Gi", "Mi", "Ki"):
        scale = _UNITS[unit]
        if size >= scale and (size * 10) % scale == 0:
            text = f"{Decimal(size) / scale:f}"
            if "." in text:
                text = text.rstrip("0").rstrip(".")
            return text + unit
    for unit in ("T", "G", "M", "k"):
        scale = _UNITS[unit]
        if size >= scale and size % scale == 0:
            return f"{size // scale}{unit}"
    return str(size)


def memory_limit(value: int | None) -> int | None:
    """A limit an engine reports, with "no limit" read as ``None`` (0, negative, or the
    kernel's largest value)."""
    if value is None or value <= 0 or value >= MAX_MEMORY:
        return None
    return value


def revision_resources(before: Resources, after: Resources) -> dict[str, Any]:
    """What a revision made by a resources change keeps: the limits it set, and those it
    replaced (so the revision can be gone back to, and the one before it too)."""
    return {**after.as_dict(), "previous": before.as_dict()}


def resources_of(record: Mapping[str, Any] | None) -> Resources:
    """Limits back from their JSON form (``as_dict``; a revision's ``resources``)."""
    if not record:
        return Resources()
    cpus, memory = record.get("cpus"), record.get("memory")
    return Resources(
        cpus=None if cpus is None else float(cpus),
        memory=None if memory is None else int(memory),
    )


def change_message(target: str, before: Resources, after: Resources) -> str:
    """What a change did, in one line."""
    parts = []
    if before.cpus != after.cpus:
        parts.append(f"cpus {_cpus(before.cpus)} → {_cpus(after.cpus)}")
    if before.memory != after.memory:
        parts.append(f"memory {_memory(before.memory)} → {_memory(after.memory)}")
    if not parts:
        return f"{target} already has {after.describe()}"
    return f"{target}: " + ", ".join(parts)


def _cpus(value: float | None) -> str:
    return "unlimited" if value is None else f"{value:g}"


def _memory(value: int | None) -> str:
    return "unlimited" if value is None else format_memory(value)
