"""Every error becomes a JSON answer here, in one place; no traceback reaches a client."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from scalehook.api.middleware import redact_path
from scalehook.api.schemas import BODY_TAGS
from scalehook.errors import RateLimited, ScalehookError

log = logging.getLogger("scalehook.api")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    execution_id: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"error": code, "message": message}
    if field is not None:
        body["field"] = field
    if execution_id is not None:
        body["execution_id"] = execution_id
    return JSONResponse(body, status_code=status, headers=headers)


async def _scalehook_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ScalehookError)
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    if exc.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if exc.status in (408, 413):
        # The rest of the body is still on the wire: the connection cannot be reused.
        headers["Connection"] = "close"
    return error_response(
        exc.status,
        exc.code,
        exc.message,
        field=exc.field,
        execution_id=exc.execution_id,
        headers=headers or None,
    )


def describe(errors: list[Any]) -> tuple[str, str | None, bool]:
    """A one-line message, the field at fault, and whether the body was not JSON at all.

    The problem told is the outermost one: a body's own fields before those of its
    config (``extra`` before ``config.service``)."""
    first = min(errors, key=lambda e: len(_where(e)))
    if first.get("type") == "json_invalid":
        reason = first.get("ctx", {}).get("error", "malformed")
        return f"the body is not valid JSON: {reason}", None, True
    tagged = _tag_problem(first)
    if tagged is not None:
        return tagged
    loc = _where(first)
    if not loc and first.get("loc", ())[:1] == ("body",) and first.get("type") != "missing":
        return (
            "the body must be a JSON object, sent with 'Content-Type: application/json'",
            None,
            False,
        )
    field = ".".join(loc) or None
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    if first.get("type") == "missing":
        message = "is required"
    if loc and loc[0] in ("query", "path", "header"):
        field = ".".join(loc[1:])
    text = f"{field}: {message}" if field else message
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return text, field, False


def _where(error: Any) -> list[str]:
    """An error's location as the caller wrote it: without ``body``, nor the tag pydantic
    adds for a tagged union (the caller wrote that as the driver, not as a key)."""
    raw = list(error.get("loc", ()))
    if raw[:1] == ["body"] and len(raw) > 2 and raw[1] in BODY_TAGS:
        del raw[1]
    return [str(p) for p in raw if p not in ("body",)]


def _tag_problem(error: Any) -> tuple[str, str | None, bool] | None:
    """A body whose tag (``driver``) is missing or names no member of its union."""
    kind = error.get("type")
    if kind not in ("union_tag_not_found", "union_tag_invalid"):
        return None
    ctx = error.get("ctx", {})
    field = str(ctx.get("discriminator", "driver")).strip("'")
    if kind == "union_tag_not_found":
        return f"{field}: is required", field, False
    known = sorted(t.strip().strip("'") for t in str(ctx.get("expected_tags", "")).split(","))
    return (
        f"{field}: {ctx.get('tag')!r} is not known; use one of {', '.join(known)}",
        field,
        False,
    )


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    message, field, not_json = describe(list(exc.errors()))
    if not_json:
        return error_response(400, "invalid_json", message)
    return error_response(422, "invalid_request", message, field=field)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = str(exc.detail) if exc.detail else code.replace("_", " ")
    return error_response(exc.status_code, code, message, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error(
        "unexpected error on %s %s", request.method, redact_path(request.url.path), exc_info=exc
    )
    return error_response(500, "internal_error", "internal error; the server log has the details")


def install(app: FastAPI) -> None:
    app.add_exception_handler(ScalehookError, _scalehook_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
