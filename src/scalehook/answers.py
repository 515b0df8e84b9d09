"""The error body every HTTP face sends (API, trigger, UI sign-in), and the OpenAPI
answers built from it, so a route documents exactly what it answers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    """Every error answer's body, whatever its status."""

    error: str = Field(description="a stable code, e.g. invalid_request")
    message: str = Field(description="what was wrong, for people")
    field: str | None = Field(default=None, description="the field at fault, if one is")
    execution_id: int | None = Field(default=None, description="the failed execution, if any")


Responses = dict[int | str, dict[str, Any]]

MEANINGS: dict[int, str] = {
    400: "the body is not JSON (invalid_json)",
    401: "no admin token, or not the right one (unauthorized)",
    403: "a signed-in browser's write without its CSRF token (forbidden)",
    404: "no such thing (not_found)",
    408: "the body did not arrive within server.request_timeout (request_timeout)",
    409: "it conflicts with what exists, or the engine as configured cannot do it "
    "(backend_unsupported): no retry helps until that changes",
    413: "the body is over the size limit (payload_too_large)",
    422: "a field or parameter that will never work as sent; `field` names it "
    "(invalid_request, not_scalable, backend_refused)",
    429: "over the receiver's rate limit (rate_limited); Retry-After says when to come back",
    502: "the engine answered with an error (backend_error); a retry may pass",
    503: "the engine is unavailable (backend_unavailable); retry later",
}
"""What each error status means, for every route's OpenAPI answers."""

AUTH = (401,)
BODY = (400, 408, 413, 422)
ENGINE = (409, 502, 503)


def errors(*statuses: int, said: Mapping[int, str] | None = None) -> Responses:
    """The error answers of a route, each with the body actually sent (``ErrorOut``);
    ``said`` gives a status a meaning of the route's own."""
    answers: Responses = {}
    for status in sorted(set(statuses)):
        answer: dict[str, Any] = {
            "model": ErrorOut,
            "description": (said or {}).get(status, MEANINGS[status]),
        }
        if status == 429:
            answer["headers"] = {
                "Retry-After": {
                    "description": "seconds to wait",
                    "required": True,
                    "schema": {"type": "integer"},
                }
            }
        answers[status] = answer
    return answers
