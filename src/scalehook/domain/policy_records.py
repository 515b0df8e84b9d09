"""A policy as the store keeps it: its name, the service it scales, and its body as
given (validated when it was written; ``domain/policies`` reads it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NewType

PolicyId = NewType("PolicyId", int)


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    id: PolicyId
    name: str
    service: str  # as given: a name, or backend/name
    body: dict[str, Any]  # the policy body as given (name and service included)
    created_at: datetime
    updated_at: datetime
