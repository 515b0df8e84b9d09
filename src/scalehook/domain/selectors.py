"""Label selectors: which services or hosts a receiver acts on.

All pairs must match; an empty value means "the label is present". This fixes
Rancher's selector, which used one random pair of a map and compared case-blind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from scalehook.errors import InvalidRequest


@dataclass(frozen=True, slots=True)
class Selector:
    pairs: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, labels: Mapping[str, str] | None) -> Selector:
        return cls(tuple(sorted((labels or {}).items())))

    @classmethod
    def parse(cls, text: str | None) -> Selector:
        """Parse ``a=b,c=`` (or ``a=b;c``) as written in query strings and the CLI."""
        if not text:
            return cls()
        pairs: dict[str, str] = {}
        for raw in text.replace(";", ",").split(","):
            item = raw.strip()
            if not item:
                continue
            key, _, value = item.partition("=")
            key = key.strip()
            if not key:
                raise InvalidRequest(f"selector {text!r}: empty label name", field="selector")
            pairs[key] = value.strip()
        return cls.of(pairs)

    def matches(self, labels: Mapping[str, str]) -> bool:
        for key, value in self.pairs:
            if key not in labels:
                return False
            if value and labels[key] != value:
                return False
        return True

    def as_dict(self) -> dict[str, str]:
        return dict(self.pairs)

    def __str__(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.pairs)

    def __bool__(self) -> bool:
        return bool(self.pairs)


def group_target(selector: Selector) -> str:
    """The target a host group's executions and lock are named by: ``hosts/group=batch``
    (a scaleHost receiver and a host-group policy on one group share it)."""
    return f"hosts/{selector}"
