"""``notifications:`` in scalehook.yaml: how deliveries are tried and retried."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from scalehook.domain.durations import Duration


class NotificationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timeout: Annotated[Duration, Field(gt=0)] = Field(
        default=10.0, description="longest wait for a webhook's or SMTP server's answer"
    )
    attempts: int = Field(default=10, ge=1, le=1000, description="tries before a delivery fails")
    backoff: Annotated[Duration, Field(gt=0)] = Field(
        default=5.0, description="wait before the first retry; doubles after each failed try"
    )
    max_backoff: Annotated[Duration, Field(gt=0)] = Field(
        default=600.0, description="the longest wait between two tries"
    )
    poll: Annotated[Duration, Field(gt=0)] = Field(
        default=1.0, description="how often the outbox is read for deliveries due"
    )
    concurrency: int = Field(default=4, ge=1, le=64, description="deliveries sent at once")
    keep: Annotated[Duration, Field(gt=0)] = Field(
        default=7 * 86400.0, description="how long delivered and failed deliveries are kept"
    )
    refresh: Annotated[Duration, Field(gt=0)] = Field(
        default=5.0,
        description="on a shared database, how soon a change made on another instance is seen",
    )
    ca_file: Path | None = Field(
        default=None,
        description="PEM CA certificates to verify https and STARTTLS peers with, instead of "
        "the system's",
    )

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS settings every sender verifies its peer with (ValueError: a bad file)."""
        try:
            return ssl.create_default_context(
                cafile=None if self.ca_file is None else str(self.ca_file)
            )
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise ValueError(f"{self.ca_file}: cannot load CA certificates: {reason}") from None
