"""Builds the ASGI app: the API routers, error mapping and middleware around a Runtime."""

from __future__ import annotations

from fastapi import FastAPI

from scalehook import __version__, ui
from scalehook.api import (
    errors,
    execution_stream,
    executions,
    healthchecks,
    hooks,
    hosts,
    nodes,
    notifications,
    openapi,
    policies,
    receivers,
    rollouts,
    services,
    system,
)
from scalehook.api.middleware import AccessLog, BodyLimit
from scalehook.runtime import Runtime

DESCRIPTION = """\
Elastic scaling driven by webhooks. Create a *receiver* to get a secret trigger URL;
a POST to that URL runs the receiver's action and records an execution.

Every route but the trigger, `/healthz` and `/metrics` needs
`Authorization: Bearer <admin token>`, or the web UI's session cookie (from
`POST /ui/session`) with its CSRF token in `X-CSRF-Token` on every change.
The web UI is at `/ui/`.
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
        policies.router,
        healthchecks.router,  # before services: /{name}/healthcheck is not a service name
        services.router,
        execution_stream.router,  # before executions: /stream is not an execution id
        executions.router,
        hosts.router,
        notifications.router,
        nodes.router,
        rollouts.router,
        system.router,
    ):
        app.include_router(router)
    ui.install(app)
    errors.install(app)
    openapi.install(app)
    app.add_middleware(
        BodyLimit,
        max_body=runtime.settings.hooks.max_body,
        timeout=runtime.settings.server.request_timeout,
    )
    app.add_middleware(AccessLog)
    return app
