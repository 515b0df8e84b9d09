"""/ui/session: sign in with the admin token, read the session's CSRF token, sign out.

The cookie holds a random session id (HttpOnly, SameSite=Strict, ``Path=/``, Secure
over https, ``Max-Age`` 12 h, renewed whenever the page reads its session); the page
gets the CSRF token in the JSON answer and keeps it in memory only. The admin token
itself is checked once, here, and never returned or stored by the browser.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from scalehook.answers import BODY, errors
from scalehook.domain.sessions import COOKIE, CSRF_HEADER, IDLE, UiSession
from scalehook.errors import RateLimited, Unauthorized
from scalehook.ratelimit import RateLimiter
from scalehook.runtime import Runtime
from scalehook.sessions import check_csrf, session_for, sign_in, sign_out
from scalehook.ui.headers import SECURITY_HEADERS

SIGN_IN_RATE = 1.0
"""Sign-in attempts per second per address, after a burst of ``SIGN_IN_BURST``."""
SIGN_IN_BURST = 10


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=4096, description="the admin token")


class SessionOut(BaseModel):
    csrf_token: str = Field(description=f"send it as {CSRF_HEADER} with every change")
    expires_at: datetime = Field(description="when the session ends if it is not used")


async def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(_runtime)]

router = APIRouter(prefix="/ui", tags=["ui"])


def install(app: FastAPI) -> None:
    runtime: Runtime = app.state.runtime
    app.state.sign_in_limiter = RateLimiter(
        rate=SIGN_IN_RATE, burst=SIGN_IN_BURST, clock=runtime.clock.monotonic
    )


def _set_cookie(request: Request, response: Response, session_id: str) -> None:
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=int(IDLE.total_seconds()),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _answer(response: Response, session: UiSession) -> SessionOut:
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = "no-store"
    return SessionOut(csrf_token=session.csrf, expires_at=session.expires_at)


@router.post(
    "/session",
    operation_id="createSession",
    status_code=201,
    response_model=SessionOut,
    responses=errors(
        *BODY,
        401,
        429,
        said={401: "the admin token is not valid", 429: "too many attempts; Retry-After says when"},
    ),
)
async def create_session(
    body: SignIn, request: Request, response: Response, runtime: RuntimeDep
) -> SessionOut:
    """Sign in: check the admin token, set the session cookie, answer the CSRF token."""
    limiter: RateLimiter = request.app.state.sign_in_limiter
    wait = limiter.take(request.client.host if request.client else None)
    if wait is not None:
        raise RateLimited(
            f"too many sign-in attempts; try again in {math.ceil(wait)}s", retry_after=wait
        )
    session_id, session = await sign_in(
        runtime.store, runtime.clock, runtime.admin_hash, body.token
    )
    _set_cookie(request, response, session_id)
    return _answer(response, session)


@router.get(
    "/session",
    operation_id="getSession",
    response_model=SessionOut,
    responses=errors(401, said={401: "not signed in, or the session ended"}),
)
async def get_session(request: Request, response: Response, runtime: RuntimeDep) -> SessionOut:
    """The signed-in session's CSRF token (the page asks on every load); renews the cookie."""
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        raise Unauthorized("not signed in")
    session = await session_for(runtime.store, runtime.clock, runtime.admin_hash, session_id)
    _set_cookie(request, response, session_id)
    return _answer(response, session)


@router.delete(
    "/session",
    operation_id="deleteSession",
    status_code=204,
    responses=errors(403, said={403: "no CSRF token with a live session"}),
)
async def delete_session(request: Request, runtime: RuntimeDep) -> Response:
    """Sign out: the session ends at once (its cookie no longer works anywhere)."""
    session_id = request.cookies.get(COOKIE)
    if session_id:
        try:
            session = await session_for(
                runtime.store, runtime.clock, runtime.admin_hash, session_id
            )
        except Unauthorized:
            pass  # signed out already, or ended: nothing to protect
        else:
            check_csrf(session, request.method, request.headers.get(CSRF_HEADER))
            await sign_out(runtime.store, session_id)
    response = Response(status_code=204, headers=SECURITY_HEADERS)
    response.delete_cookie(
        COOKIE, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
    return response
