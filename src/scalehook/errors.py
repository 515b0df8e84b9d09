"""Typed errors of the domain, and what each one tells a caller.

Each error carries the HTTP status it maps to, so the API turns any of them into a
JSON answer in one place (``api/errors.py``) and no traceback reaches a client. The
status carries the retry meaning: 5xx only when the same request may succeed later,
4xx when it never will as things are set up. Alertmanager acts on exactly this (it
retries a 5xx for ever and drops a 4xx), so a permanent refusal must not be a 5xx.

Every error class scalehook defines, wherever it lives, with its status (a unit test
fails on a class missing here, or on a status that differs)::

    ScalehookError                500 the base; raised only through a subclass
    |-- InvalidRequest            422 a request body or parameter that never works as sent
    |   |-- NotScalable           422 the service has no count to set (a Swarm global service)
    |   `-- NotRecreatable        422 the engine cannot replace that replica (a task elsewhere)
    |-- InvalidPayload            400 a webhook body that cannot be understood
    |-- PayloadTooLarge           413 a body over hooks.max_body
    |-- RequestTimeout            408 the body missed server.request_timeout (api/middleware)
    |-- Unauthorized              401 no or a wrong admin token; a receiver's secret not proved;
    |                                 a UI session unknown, ended or signed out
    |-- Forbidden                 403 a UI session's change sent without its CSRF token
    |-- NotFound                  404 no such thing
    |   |-- ReceiverNotFound      404 no receiver has this id, name or trigger URL
    |   |-- PolicyNotFound        404 no policy has this id or name
    |   |-- ServiceNotFound       404 no backend has the service, or there is no such backend
    |   |-- NotificationNotFound  404 no notification has this id or name
    |   |-- ReplicaNotFound       404 the service has no replica of that id
    |   |-- HealthCheckNotFound   404 the service has no health check
    |   |-- RolloutNotFound       404 no rollout has this id
    |   `-- RevisionNotFound      404 the service has no revision of that number
    |-- Conflict                  409 the target's state forbids it (a host name taken, a
    |   |                             rollback while a rollout runs, a pause of a finished one)
    |   `-- DataDirInUse          409 another running scalehook holds the data dir (datadir.py)
    |-- RateLimited               429 over the receiver's rate; Retry-After says when
    |   `-- RetryLater            503 the same, for senders that retry only 5xx (Alertmanager)
    |-- ConfigError               400 scalehook.yaml or the command line cannot run (config.py)
    |-- EngineAddressError        400 docker_host, DOCKER_HOST or the TLS files are unusable
    |-- StoreUnavailable          503 the database cannot be reached now (PostgreSQL down or
    |                                 restarting, no free connection): retry later
    `-- BackendError              502 an engine or provider failed; a later try may pass
        |-- BackendUnavailable    503 it cannot be reached, or cannot serve now: retry later
        |   |-- EngineUnavailable 503 a Docker engine unreachable, timing out, or its own 503
        |   `-- HAProxyUnavailable 503 HAProxy's Runtime API unreachable, cut off, timing out
        |-- BackendRefused        422 the engine says the request is invalid (its 400)
        |-- BackendUnsupported    409 the engine or provider, as set up, will not do this
        |-- EngineError           502 a Docker engine's error answer; engine_text its words
        |   |-- EngineNotFound    502 its 404 (callers make it ServiceNotFound, or "gone")
        |   |-- EngineConflict    502 its 409: a name in use, an object in the wrong state
        |   |-- EngineRefused     422 its 400; also a BackendRefused
        |   `-- EngineUnsupported 409 its 403 or 501, or its 503 "not a swarm manager" or
        |                             "not part of a swarm"; also a BackendUnsupported
        `-- HAProxyError          502 HAProxy refused a command ([err]); haproxy_text its words
            |-- HAProxyNotFound   502 no such backend, server or proxy
            `-- HAProxyUnsupported 409 a socket below level admin or not ours to open, or a
                                      command this HAProxy lacks; also a BackendUnsupported

The ``Engine*`` errors live in ``backends/engine/client.py``, the one place that reads
an engine's answers; ``EngineAddressError`` beside it in ``address.py``. The
``HAProxy*`` errors live in ``balancers/haproxy/client.py``, the one place that talks
to HAProxy's Runtime API.

Refusals are split by who must act. ``BackendRefused`` (422): what was asked cannot be
done, and the same request is refused the same way until the service changes (an image
reference the engine rejects, a replica whose bind mount source is gone).
``BackendUnsupported`` (409): nothing is wrong with the request, but the engine or
provider it reaches cannot do it as configured, until an operator changes that (an
Engine API older than 1.40, an engine that is not a Swarm manager, a host provider
without root, a cloud that does not offer the image or size). A plain ``BackendError``
(502) is an error answer that may pass later (the engine's 500, a conflict, a pull that
failed); ``BackendUnavailable`` (503) a failure that a retry is likely to get past.

Eight more are not HTTP answers, so not in the tree: ``InvalidImage`` (a ``ValueError`` of
the pure ``domain/images.py``; each use turns it into ``InvalidRequest`` 422 or
``InvalidPayload`` 400 naming the field), ``_FieldError`` (a ``ValueError`` of
``domain/notifications.py``: a check across fields that names the one at fault; it
becomes ``InvalidRequest`` 422 with that field), ``CronError`` (a ``ValueError`` of the
pure ``domain/policies/cron.py``: a cron expression or time zone that cannot be used; in
a policy it becomes the field's error, so ``parse_policy`` answers ``InvalidRequest`` 422
naming ``metrics[i].cron``), ``SourceError`` (``policies/sources/base.py``: a policy's
metric that cannot be read now; the loop records why and holds, and at create a query
Prometheus rejects becomes ``InvalidRequest``), ``DeliveryFailed``
(``notifications/base.py``: a try of a notification failed; kept as the delivery's last
error, retried or not, never an answer), ``CgroupError`` (``backends/local/cgroups.py``:
the kernel refused a limit; the local backend turns it into ``BackendRefused`` 422, or a
replica that cannot start), ``DatabaseUrlError`` (a ``ValueError`` of
``store/database.py``: a ``database`` URL scalehook cannot use, a ``ConfigError`` at
start) and ``ClientError`` (``cli/client.py``: the command line's own, printed as one
line with exit status 1).
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


class Forbidden(ScalehookError):
    """Known caller, refused request: a change made with the UI's session cookie but
    without the session's CSRF token (``X-CSRF-Token``)."""

    status = 403
    code = "forbidden"


class NotFound(ScalehookError):
    status = 404
    code = "not_found"


class ReceiverNotFound(NotFound):
    code = "receiver_not_found"


class PolicyNotFound(NotFound):
    code = "policy_not_found"


class ServiceNotFound(NotFound):
    code = "service_not_found"


class NotificationNotFound(NotFound):
    code = "notification_not_found"


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
    """An engine or provider failed an operation, in a way a later try may not repeat;
    its own text is passed through."""

    status = 502
    code = "backend_error"


class BackendUnavailable(BackendError):
    """The engine cannot be reached now; a retry later may succeed."""

    status = 503
    code = "backend_unavailable"


class BackendRefused(BackendError):
    """The engine refuses the request as invalid (its 400): the same request fails again."""

    status = 422
    code = "backend_refused"


class BackendUnsupported(BackendError):
    """The engine or provider, as configured, cannot do this: no retry can succeed until
    an operator changes it (an Engine API too old, not a Swarm manager, no root)."""

    status = 409
    code = "backend_unsupported"


class NotScalable(InvalidRequest):
    """The service exists but cannot be scaled (e.g. a Swarm global service)."""

    code = "not_scalable"


class ReplicaNotFound(NotFound):
    """No replica of that id among the service's members (it may be stopping)."""

    code = "replica_not_found"


class StoreUnavailable(ScalehookError):
    """The database cannot be reached now: its server is down or restarting, the
    connection was cut, or no connection came free in time. A retry may succeed; the
    driver's error is chained (``raise ... from exc``)."""

    status = 503
    code = "store_unavailable"


class NotRecreatable(InvalidRequest):
    """The engine cannot replace that replica (e.g. a Swarm task on another node)."""

    code = "not_recreatable"


class HealthCheckNotFound(NotFound):
    """The service has no health check (neither set through the API nor in the file)."""

    code = "healthcheck_not_found"


class RolloutNotFound(NotFound):
    code = "rollout_not_found"


class RevisionNotFound(NotFound):
    """A rollback to a revision the service does not have (``field`` is ``revision``)."""

    code = "revision_not_found"
