"""What a driver is: a config schema, a check at create, and what a trigger does."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, Field, ValidationError

from scalehook.domain.executions import Execution
from scalehook.domain.receivers import Receiver
from scalehook.domain.signals import Signal
from scalehook.errors import InvalidRequest
from scalehook.executor import Executor
from scalehook.recording import Audit

ConfigT = TypeVar("ConfigT", bound=BaseModel)


class SecretOption(BaseModel):
    """``secret``: every call must prove it (GitHub's ``X-Hub-Signature-256`` HMAC of the
    body, or the secret in ``Authorization``); checked at the trigger for any driver,
    never shown by the API or logged."""

    secret: str | None = Field(
        default=None,
        min_length=8,
        max_length=256,
        repr=False,
        description="calls must prove it (X-Hub-Signature-256 or Authorization); never shown",
    )


@dataclass(frozen=True, slots=True)
class Reads:
    """Which bodies the trigger reads into signals for a receiver, and how strictly.

    ``among``: the senders the driver reads; ``force``: read every body as this one;
    ``required``: a body that is none of them is refused (400) as not ``what``, instead
    of being a plain trigger."""

    among: frozenset[str] = frozenset()
    force: str | None = None
    required: bool = False
    what: str = "a notification"


@dataclass(frozen=True, slots=True)
class HookCall:
    """One POST to a trigger URL, as the driver sees it."""

    body: bytes
    headers: Mapping[str, str]
    caller: str | None
    source: str | None = None  # the sender the body was read as, if any
    signals: tuple[Signal, ...] = ()

    def audit(self, receiver: Receiver) -> Audit:
        return Audit(
            driver=receiver.driver,
            receiver_id=receiver.id,
            receiver_name=receiver.name,
            caller=self.caller,
            dry_run=receiver.dry_run,
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    execution: Execution
    status: int = 200


class Driver(ABC, Generic[ConfigT]):
    name: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]
    #: senders whose bodies the trigger reads into ``HookCall.signals`` for this driver;
    #: a body from any other sender is a plain trigger to it
    reads: ClassVar[frozenset[str]] = frozenset()

    def parse_config(self, raw: Mapping[str, Any]) -> ConfigT:
        """The typed config, or ``InvalidRequest`` naming the field (``config.amount``)."""
        try:
            return self.config_model.model_validate(dict(raw))  # type: ignore[return-value]
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in ("config", *first["loc"]))
            message = str(first["msg"]).removeprefix("Value error, ")
            raise InvalidRequest(f"{where}: {message}", field=where) from exc

    def reading(self, config: ConfigT) -> Reads:
        """What the trigger reads for a receiver of this driver with ``config``."""
        return Reads(among=self.reads)

    def secret(self, config: ConfigT) -> str | None:
        """The secret a call must prove, if the receiver has one."""
        value = getattr(config, "secret", None)
        return value if isinstance(value, str) else None

    def target(self, config: ConfigT) -> str | None:
        """The service (or other target) the receiver acts on, for the audit trail."""
        return None

    @abstractmethod
    async def validate(self, config: ConfigT, executor: Executor) -> None:
        """Check the config against the world (does the service exist?) at create/update."""

    @abstractmethod
    async def trigger(
        self, receiver: Receiver, config: ConfigT, call: HookCall, executor: Executor
    ) -> Outcome:
        """Act on one POST to the receiver's URL."""
