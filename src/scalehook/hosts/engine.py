"""A small async client of the Docker Engine API, for the cluster and netns hosts.

Vendor errors stop here: connection failures become ``BackendUnavailable`` (503),
refusals ``BackendError`` with the engine's own message, 404 ``NotFound``.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx

from scalehook.errors import BackendError, BackendUnavailable, NotFound

API_VERSION = "v1.41"


def default_docker_host() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


class Engine:
    def __init__(self, docker_host: str | None = None, *, timeout: float = 30.0) -> None:
        self.docker_host = docker_host or default_docker_host()
        if self.docker_host.startswith("unix://"):
            transport = httpx.AsyncHTTPTransport(uds=self.docker_host.removeprefix("unix://"))
            base = "http://docker"
        elif self.docker_host.startswith("tcp://"):
            transport = httpx.AsyncHTTPTransport()
            base = "http://" + self.docker_host.removeprefix("tcp://")
        else:
            raise BackendError(f"docker host {self.docker_host!r}: use unix:// or tcp://")
        self._http = httpx.AsyncClient(
            transport=transport, base_url=f"{base}/{API_VERSION}", timeout=timeout
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        content: bytes | AsyncIterator[bytes] | None = None,
        timeout: float | None = None,
    ) -> Any:
        kwargs: dict[str, Any] = {"params": _params(params)}
        if body is not None:
            kwargs["json"] = body
        if content is not None:
            kwargs["content"] = content
            kwargs["headers"] = {"Content-Type": "application/x-tar"}
        if timeout is not None:
            kwargs["timeout"] = timeout
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise BackendUnavailable(
                f"docker engine at {self.docker_host} is unreachable: {exc}"
            ) from exc
        return _decode(response)

    async def get(self, path: str, **params: Any) -> Any:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return await self.request("POST", path, params=params, body=body)

    async def delete(self, path: str, **params: Any) -> Any:
        return await self.request("DELETE", path, params=params)

    async def stream(self, path: str, **params: Any) -> AsyncIterator[bytes]:
        """The body of a GET, chunk by chunk (e.g. ``/images/get``)."""
        try:
            async with self._http.stream(
                "GET", path, params=list(_params(params)), timeout=300
            ) as r:
                if r.status_code >= 400:
                    await r.aread()
                    _decode(r)
                async for chunk in r.aiter_bytes():
                    yield chunk
        except httpx.TransportError as exc:
            raise BackendUnavailable(
                f"docker engine at {self.docker_host} is unreachable: {exc}"
            ) from exc


def _params(params: dict[str, Any] | None) -> list[tuple[str, str | int | float | bool | None]]:
    """Query parameters as the Engine API wants them: ``filters`` as JSON, other lists
    repeated (``names=a&names=b``), booleans as true/false."""
    out: list[tuple[str, str | int | float | bool | None]] = []
    for key, value in (params or {}).items():
        if value is None:
            continue
        if key == "filters":
            out.append((key, json.dumps(value)))
        elif isinstance(value, list | tuple):
            out.extend((key, str(item)) for item in value)
        elif isinstance(value, bool):
            out.append((key, "true" if value else "false"))
        else:
            out.append((key, str(value)))
    return out


def _decode(response: httpx.Response) -> Any:
    if response.status_code < 400:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text
    try:
        message = response.json().get("message", response.text)
    except ValueError:
        message = response.text
    text = f"docker engine: {message}".strip()
    if response.status_code == 404:
        raise NotFound(text)
    if response.status_code == 503:
        raise BackendUnavailable(text)
    raise BackendError(text)
