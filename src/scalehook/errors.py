"""Typed errors of the domain.

Each error carries the HTTP status it maps to, so the API turns any of them into a
JSON answer in one place (``api/errors.py``) and no traceback reaches a client. The
status also carries retry meaning: 5xx errors are worth retrying, 4xx never are.
"""

from __future__ import annotations


class ScalehookError(Exception):
    """Base of every error scalehook raises on purpose."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.execution_id: int | None = None


class InvalidRequest(ScalehookError):
    """A request body or parameter that will never work as sent."""

    status = 422
    code = "invalid_request"


class InvalidPayload(ScalehookError):
    """A webhook body that cannot be understood."""

    status = 400
    code = "invalid_payload"


class PayloadTooLarge(ScalehookError):
    status = 413
    code = "payload_too_large"


class Unauthorized(ScalehookError):
    status = 401
    code = "unauthorized"


class NotFound(ScalehookError):
    status = 404
    code = "not_found"


class ReceiverNotFound(NotFound):
    code = "receiver_not_found"


class ServiceNotFound(NotFound):
    code = "service_not_found"


class Conflict(ScalehookError):
    status = 409
    code = "conflict"


class RateLimited(ScalehookError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RetryLater(RateLimited):
    """Rate limited, answered 503 for senders that retry only 5xx (Alertmanager)."""

    status = 503


class BackendError(ScalehookError):
    """The engine refused an operation; its own text is passed through."""

    status = 502
    code = "backend_error"


class BackendUnavailable(BackendError):
    """The engine cannot be reached now; a retry later may succeed."""

    status = 503
    code = "backend_unavailable"


class NotScalable(InvalidRequest):
    """The service exists but cannot be scaled (e.g. a Swarm global service)."""

    code = "not_scalable"


class ReplicaNotFound(NotFound):
    """No replica of that id among the service's members (it may be stopping)."""

    code = "replica_not_found"


class NotRecreatable(InvalidRequest):
    """The engine cannot replace that replica (e.g. a Swarm task on another node)."""

    code = "not_recreatable"
