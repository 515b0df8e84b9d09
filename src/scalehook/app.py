"""Builds the ASGI app: the API routers, error mapping and middleware around a Runtime."""

from __future__ import annotations

from fastapi import FastAPI

from scalehook import __version__
from scalehook.api import errors, executions, hooks, hosts, openapi, receivers, services, system
from scalehook.api.middleware import AccessLog, BodyLimit
from scalehook.runtime import Runtime

DESCRIPTION = """\
Elastic scaling driven by webhooks. Create a *receiver* to get a secret trigger URL;
a POST to that URL runs the receiver's action and records an execution.

Every route but the trigger, `/healthz` and `/metrics` needs
`Authorization: Bearer <admin token>`.
"""


def build_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="scalehook",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.runtime = runtime
    for router in (
        hooks.router,
        receivers.router,
        services.router,
        executions.router,
        hosts.router,
        system.router,
    ):
        app.include_router(router)
    errors.install(app)
    openapi.install(app)
    app.add_middleware(
        BodyLimit,
        max_body=runtime.settings.hooks.max_body,
        timeout=runtime.settings.server.request_timeout,
    )
    app.add_middleware(AccessLog)
    return app
