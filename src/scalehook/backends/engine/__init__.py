"""What the ``docker`` and ``swarm`` backends share: the Engine API, reached without SDK."""

from scalehook.backends.engine.address import EngineSettings, TlsSettings, resolve_address
from scalehook.backends.engine.client import (
    JSON,
    EngineClient,
    EngineConflict,
    EngineError,
    EngineNotFound,
    EngineRefused,
    EngineUnavailable,
    EngineUnsupported,
)

__all__ = [
    "JSON",
    "EngineClient",
    "EngineConflict",
    "EngineError",
    "EngineNotFound",
    "EngineRefused",
    "EngineSettings",
    "EngineUnavailable",
    "EngineUnsupported",
    "TlsSettings",
    "resolve_address",
]
