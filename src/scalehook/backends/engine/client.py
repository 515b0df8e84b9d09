"""An asyncio client of the Docker Engine API: httpx over the socket or TCP+TLS.

No blocking call ever runs on the event loop (which the Docker SDK would need a
thread for), and engine failures stop here, turned into the domain's errors (the tree
in ``scalehook.errors``; one made from an httpx or JSON error is chained to it):

- unreachable, timing out, cut off mid-answer, or its own 503 → ``EngineUnavailable``
  (503: worth a retry);
- its 400 (the request is invalid: a bad image reference, a mount source gone) →
  ``EngineRefused`` (422); its 403 or 501, a 503 saying it is not a Swarm manager, or
  an API older than ``MIN_API`` → ``EngineUnsupported`` / ``BackendUnsupported`` (409):
  no retry succeeds until the engine changes;
- any other error answer → ``EngineError`` (502) carrying the engine's own text;
- an answer that is not JSON where JSON is due → ``BackendError`` (502).

Each request opens a connection if there is none, so a restarted engine is found
again without anything to reset.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import httpx

from scalehook.backends.engine.address import EngineAddress
from scalehook.errors import (
    BackendError,
    BackendRefused,
    BackendUnavailable,
    BackendUnsupported,
)

log = logging.getLogger(__name__)

# The API versions this client speaks: 1.40 is Docker 19.03; newer engines are asked
# for at most MAX_API, whose shapes the backends read.
MIN_API = (1, 40)
MAX_API = (1, 47)

JSON = Any
"""Engine payloads, read field by field by the backends and never passed beyond them."""

Params = Mapping[str, str | int | Sequence[str]]
"""Query parameters; a sequence is sent repeated (``names=a&names=b``)."""


class EngineError(BackendError):
    """The engine answered with an error; ``engine_text`` is what it said."""

    def __init__(self, message: str, *, status_code: int, engine_text: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.engine_text = engine_text

    def reworded(self, message: str) -> BackendError:
        """A domain error saying ``message`` with this one's retry meaning (raise it
        ``from`` this one): refused and unsupported stay 4xx, the rest 502."""
        for kind in (BackendRefused, BackendUnsupported):
            if isinstance(self, kind):
                return kind(message)
        return BackendError(message)


class EngineNotFound(EngineError):
    """404: no such container, service, image or network."""


class EngineConflict(EngineError):
    """409: a name in use, an object in the wrong state."""


class EngineRefused(EngineError, BackendRefused):
    """400: the engine says the request is invalid; sent again, it is refused again."""


class EngineUnsupported(EngineError, BackendUnsupported):
    """403, 501, or not a Swarm manager: the engine as configured will not do this."""


class EngineUnavailable(BackendUnavailable):
    """The engine cannot be reached, or says it cannot serve now (503)."""


# The engine's 503 for a Swarm call to an engine outside a Swarm, or to a worker: it
# lasts until someone joins or promotes the node, so it is no reason to retry.
_NOT_A_MANAGER = ("not a swarm manager", "not part of a swarm")
# Go's 400 for plain HTTP to a TLS port: the settings lack TLS, no request can pass.
_PLAIN_TO_TLS = "client sent an http request to an https server"


def _version_tuple(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return int(major), int(minor or 0)


class EngineClient:
    def __init__(self, address: EngineAddress, *, timeout: float) -> None:
        self.address = address
        self.timeout = timeout
        transport = httpx.AsyncHTTPTransport(
            uds=address.uds, verify=address.tls if address.tls is not None else True
        )
        self._http = httpx.AsyncClient(
            transport=transport,
            base_url=address.base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=8),
        )
        self._api: str | None = None
        self._negotiating = asyncio.Lock()

    async def close(self) -> None:
        await self._http.aclose()

    async def ping(self) -> str:
        """Reach the engine and agree on an API version; return it."""
        return await self._version()

    async def _version(self) -> str:
        if self._api is not None:
            return self._api
        async with self._negotiating:
            if self._api is None:
                answer = await self._send("GET", "/version")
                info = decode(answer, self.address.display)
                if not isinstance(info, dict):
                    raise _unreadable(answer, self.address.display, "not a version record")
                try:
                    server = _version_tuple(str(info.get("ApiVersion", "1.24")))
                except ValueError as exc:
                    raise _unreadable(answer, self.address.display, str(exc)) from exc
                if server < MIN_API:
                    raise BackendUnsupported(
                        f"the Docker engine at {self.address.display} speaks API "
                        f"{info.get('ApiVersion')}; scalehook needs "
                        f"{MIN_API[0]}.{MIN_API[1]} (Docker 19.03) or newer"
                    )
                use = min(server, MAX_API)
                self._api = f"{use[0]}.{use[1]}"
                log.info(
                    "docker engine %s at %s, API %s",
                    info.get("Version"),
                    self.address.display,
                    self._api,
                )
        return self._api

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: JSON = None,
        content: AsyncIterator[bytes] | None = None,
        content_type: str | None = None,
        wait: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One versioned API call; raises the domain's errors on any failure.

        ``content`` streams a raw body of ``content_type`` (a tar archive for
        ``/images/load``); ``headers`` are sent as well (``X-Registry-Auth``: never
        logged)."""
        version = await self._version()
        return await self._send(
            method, f"/v{version}{path}", params=params, json=json, content=content,
            content_type=content_type, wait=wait, headers=headers,
        )  # fmt: skip

    async def stream(
        self, path: str, *, params: Params | None = None, wait: float = 300.0
    ) -> AsyncIterator[bytes]:
        """A GET's body chunk by chunk (``/images/get``: an archive of images)."""
        version = await self._version()
        where = self.address.display
        try:
            async with self._http.stream(
                "GET", f"/v{version}{path}", params=params,
                timeout=httpx.Timeout(wait, connect=min(wait, 5.0)),
            ) as response:  # fmt: skip
                if response.status_code >= 400:
                    await response.aread()
                    raise _error(response, where)
                async for chunk in response.aiter_bytes():
                    yield chunk
        except httpx.TransportError as exc:
            raise self._unavailable(exc, wait) from exc
        except httpx.DecodingError as exc:
            raise BackendError(f"the Docker engine at {where} sent an unreadable body") from exc

    async def get(self, path: str, *, params: Params | None = None) -> JSON:
        """A GET's JSON answer; ``BackendError`` (502) if it is not JSON."""
        return decode(await self.request("GET", path, params=params), self.address.display)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: JSON = None,
        content: AsyncIterator[bytes] | None = None,
        content_type: str | None = None,
        wait: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        where = self.address.display
        wait = self.timeout if wait is None else wait
        sent = dict(headers or {})
        if content_type:
            sent["Content-Type"] = content_type
        try:
            response = await self._http.request(
                method,
                path,
                params=params,
                json=json,
                content=content,
                headers=sent or None,
                timeout=httpx.Timeout(wait, connect=min(wait, 5.0)),
            )
        except httpx.TransportError as exc:
            raise self._unavailable(exc, wait) from exc
        except httpx.DecodingError as exc:  # a body that its Content-Encoding does not fit
            raise BackendError(f"the Docker engine at {where} sent an unreadable body") from exc
        if response.status_code >= 400:
            raise _error(response, where)
        return response

    def _unavailable(self, exc: httpx.TransportError, wait: float) -> EngineUnavailable:
        where = self.address.display
        if isinstance(exc, httpx.TimeoutException):
            return EngineUnavailable(
                f"the Docker engine at {where} did not answer within {wait:g}s"
            )
        self._api = None  # it may come back as another version
        if isinstance(exc, httpx.RemoteProtocolError):
            return EngineUnavailable(f"the Docker engine at {where} gave a broken answer: {exc}")
        return EngineUnavailable(f"the Docker engine at {where} is unreachable: {_reason(exc)}")


def decode(response: httpx.Response, where: str) -> JSON:
    """The JSON of an answer; ``BackendError`` (502, it may pass) if it is not JSON."""
    try:
        return response.json()
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise _unreadable(response, where, "not JSON") from exc


def _unreadable(response: httpx.Response, where: str, why: str) -> BackendError:
    start = response.text[:60].strip()
    return BackendError(
        f"the Docker engine at {where} answered {response.request.method} "
        f"{response.request.url.path} with something scalehook cannot read ({why}): "
        f"{start!r}"
    )


def _reason(exc: httpx.TransportError) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
        cause = cause.__cause__ or cause.__context__
    return str(exc) or type(exc).__name__


def _error(response: httpx.Response, where: str) -> EngineError | EngineUnavailable:
    """The domain error for an error answer, by what a retry of it could do."""
    try:
        body = response.json()
        text = str(body.get("message", "") if isinstance(body, dict) else body).strip()
    except ValueError:  # no JSON: a proxy's page, an empty 500
        text = response.text.strip()
    text = text[:500] or f"HTTP {response.status_code}"
    status = response.status_code
    lowered = text.lower()
    unsupported = (
        status in (403, 501)
        or (status == 503 and any(words in lowered for words in _NOT_A_MANAGER))
        or (status == 400 and _PLAIN_TO_TLS in lowered)
    )
    if status == 503 and not unsupported:
        return EngineUnavailable(f"the Docker engine at {where} cannot serve now: {text}")
    kind: type[EngineError] = EngineError
    if unsupported:
        kind = EngineUnsupported
    elif status == 400:
        kind = EngineRefused
    elif status == 404:
        kind = EngineNotFound
    elif status == 409:
        kind = EngineConflict
    return kind(f"docker engine: {text}", status_code=status, engine_text=text)
