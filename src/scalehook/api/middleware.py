"""Plain ASGI middleware: a body-size cap and slow-body timeout, and a redacting access log.

Both sit in front of every route. The access log never writes a trigger key: paths
under ``/v1/hooks/`` are logged as ``/v1/hooks/…``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scalehook.errors import PayloadTooLarge, ScalehookError

access_log = logging.getLogger("scalehook.access")

HOOKS_PREFIX = "/v1/hooks/"


class RequestTimeout(ScalehookError):
    status = 408
    code = "request_timeout"


def redact_path(path: str) -> str:
    if path.startswith(HOOKS_PREFIX):
        return HOOKS_PREFIX + "…"
    return path


class BodyLimit:
    """413 for bodies over ``max_body`` bytes; 408 when a body trickles in too slowly."""

    def __init__(self, app: ASGIApp, *, max_body: int, timeout: float) -> None:
        self.app = app
        self.max_body = max_body
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_body:
                    await _too_large(send, self.max_body)
                    return
                break
        received = 0
        complete = False
        deadline: float | None = None
        limit, timeout = self.max_body, self.timeout

        async def limited_receive() -> Message:
            nonlocal received, complete, deadline
            if complete:
                return await receive()
            # One deadline for the whole body, so a client trickling a byte at a time
            # cannot keep the request open for ever.
            if deadline is None:
                deadline = asyncio.get_running_loop().time() + timeout
            try:
                # timeout_at, not wait_for: no task per message on the hot path.
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                # from None: the TimeoutError is our own deadline, and says less than this
                raise RequestTimeout(
                    f"the request body did not arrive within {timeout:g}s"
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if received > limit:
                    raise PayloadTooLarge(f"the body is larger than {limit} bytes")
            return message

        await self.app(scope, limited_receive, send)


async def _too_large(send: Send, limit: int) -> None:
    body = (
        b'{"error":"payload_too_large","message":"the body is larger than '
        + str(limit).encode()
        + b' bytes"}'
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not access_log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: list[int] = [0]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            client: Any = scope.get("client") or ("-", 0)
            path = redact_path(scope["path"])
            took = round((time.perf_counter() - started) * 1000, 1)
            access_log.info(
                '%s "%s %s" %d %.1fms',
                client[0],
                scope["method"],
                path,
                status[0],
                took,
                extra={
                    "client": client[0],
                    "method": scope["method"],
                    "path": path,
                    "status": status[0],
                    "duration_ms": took,
                },
            )
