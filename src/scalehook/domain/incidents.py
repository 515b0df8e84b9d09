"""What a receiver remembers about the alert incidents it acted on.

An incident is one firing of one alert: its fingerprint and ``startsAt``. The memory
lives in the store, so that dedupe survives a restart, and is written in the same
transaction as the execution that acted, so that it never says more or less than what
was done.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

IncidentKey = tuple[str, datetime]


@dataclass(frozen=True, slots=True)
class Incident:
    """A remembered incident: its firing was acted on; maybe its resolve was too.

    ``batch`` is the execution that acted on it together with other incidents (one
    action for a group): such an action is undone once, when the last of them resolves.
    ``owes`` is False when the firing could not move the count (the service already sat
    at its bound), so its resolve has nothing to undo.
    """

    fingerprint: str
    starts_at: datetime
    batch: int | None = None
    owes: bool = True
    resolved: bool = False

    @property
    def key(self) -> IncidentKey:
        return (self.fingerprint, self.starts_at)


@dataclass(frozen=True, slots=True)
class IncidentMark:
    """A change to the memory, written with the execution that decided it.

    ``fired`` marks that the firing was acted on (``shared``: with others, in one
    action, whose execution id becomes the batch); otherwise the mark records that
    the incident's resolve was handled.
    """

    fingerprint: str
    starts_at: datetime
    fired: bool
    shared: bool = False
    owes: bool = True

    @property
    def key(self) -> IncidentKey:
        return (self.fingerprint, self.starts_at)


def remember(
    memory: dict[IncidentKey, Incident], marks: tuple[IncidentMark, ...], execution_id: int
) -> None:
    """Apply ``marks`` to an in-memory copy, exactly as the store applies them to its rows."""
    for mark in marks:
        if mark.fired:
            memory[mark.key] = Incident(
                mark.fingerprint,
                mark.starts_at,
                batch=execution_id if mark.shared else None,
                owes=mark.owes,
            )
        elif mark.key in memory:
            known = memory[mark.key]
            memory[mark.key] = Incident(
                known.fingerprint, known.starts_at, known.batch, known.owes, resolved=True
            )
