"""The Engine API calls host management needs, on the backends' ``EngineClient``.

One transport, one address and TLS resolution, one error mapping for every engine
scalehook talks to; this adds only JSON in and out, and a 404 as ``NotFound``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from scalehook.backends.engine.address import resolve_address
from scalehook.backends.engine.client import EngineClient, EngineNotFound
from scalehook.errors import NotFound


class Engine:
    def __init__(self, docker_host: str | None = None, *, timeout: float = 60.0) -> None:
        self.client = EngineClient(resolve_address(docker_host, None), timeout=timeout)
        self.docker_host = self.client.address.display

    async def close(self) -> None:
        await self.client.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        content: AsyncIterator[bytes] | None = None,
        content_type: str | None = None,
        wait: float | None = None,
    ) -> Any:
        try:
            response = await self.client.request(
                method,
                path,
                params=_params(params),
                json=body,
                content=content,
                content_type=content_type,
                wait=wait,
            )
        except EngineNotFound as exc:
            raise NotFound(exc.message) from exc
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    async def get(self, path: str, **params: Any) -> Any:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return await self.request("POST", path, params=params, body=body)

    async def delete(self, path: str, **params: Any) -> Any:
        return await self.request("DELETE", path, params=params)

    def stream(self, path: str, **params: Any) -> AsyncIterator[bytes]:
        return self.client.stream(path, params=_params(params))


def _params(params: dict[str, Any] | None) -> dict[str, str | int | Sequence[str]]:
    """``filters`` as JSON, other lists repeated, booleans as true/false."""
    out: dict[str, str | int | Sequence[str]] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        if key == "filters":
            out[key] = json.dumps(value)
        elif isinstance(value, list | tuple):
            out[key] = [str(v) for v in value]
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = value if isinstance(value, int) else str(value)
    return out
