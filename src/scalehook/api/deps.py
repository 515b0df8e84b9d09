"""Request dependencies: the runtime, and the admin check (the token, or a UI session)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from scalehook.auth import token_matches
from scalehook.domain.sessions import COOKIE, CSRF_HEADER
from scalehook.errors import ScalehookError, Unauthorized
from scalehook.runtime import Runtime
from scalehook.sessions import check_csrf, session_for

_bearer = HTTPBearer(auto_error=False, description="the admin token")


# Dependencies are ``async def``: FastAPI runs a plain ``def`` dependency in a worker
# thread, a hop per request for a function that only reads an attribute.
async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def require_admin(
    request: Request,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """The admin token as a Bearer token; or, without one, the web UI's session cookie,
    with its CSRF token on every change."""
    session_id = request.cookies.get(COOKIE)
    if credentials is None and session_id:
        session = await session_for(runtime.store, runtime.clock, runtime.admin_hash, session_id)
        check_csrf(session, request.method, request.headers.get(CSRF_HEADER))
        return
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("send the admin token as 'Authorization: Bearer <token>'")
    if not token_matches(credentials.credentials, runtime.admin_hash):
        raise Unauthorized("the admin token is not valid")


def caller_address(request: Request) -> str | None:
    return request.client.host if request.client else None


async def service_targets(runtime: Runtime, service: str) -> list[str]:
    """The refs a service name may mean: as given with a backend (``docker/web``); else
    the one it resolves to, or (its backend down, or the service gone) on every backend."""
    if "/" in service:
        return [service]
    try:
        backend, name = await runtime.backends.resolve(service)
    except ScalehookError:
        return [f"{b.name}/{service}" for b in runtime.backends]
    return [f"{backend.name}/{name}"]
