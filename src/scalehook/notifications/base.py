"""What a sender is, and what it is handed."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from scalehook.domain.notifications import Delivery, Notification


class DeliveryFailed(Exception):
    """A try failed; ``message`` says why (no secret in it), ``permanent`` that no retry
    can get past it (a 4xx answer, a 5xx SMTP reply)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class SendContext:
    ssl: ssl.SSLContext
    timeout: float
    public_url: str | None
    user_agent: str
    now: Callable[[], datetime]


class Sender(Protocol):
    async def send(
        self, notification: Notification, delivery: Delivery, context: SendContext
    ) -> None:
        """Send one delivery; raise ``DeliveryFailed`` when it did not arrive."""
        ...
