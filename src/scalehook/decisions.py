"""Decisions: what to do, computed without I/O from a config, a signal and a state.

Pure values, so the rules can be pinned down with property tests; the executor is
what applies them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class ScaleDecision:
    before: int
    after: int
    result: Literal["scaled", "clamped", "noop"]
    message: str


def decide_replicas(*, current: int, replicas: int) -> ScaleDecision:
    """A scale to an absolute count, as asked through the API or CLI."""
    if replicas == current:
        return ScaleDecision(current, current, "noop", f"already at {current}")
    return ScaleDecision(current, replicas, "scaled", f"scaled from {current} to {replicas}")
