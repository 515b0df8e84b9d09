"""uvicorn's HTTP protocol with a deadline on request headers (slow-loris defence).

uvicorn drops a connection that idles between requests (keep-alive), but once a
single byte of a request has arrived it waits for the rest of the headers for ever:
a client that sends them byte by byte, or never finishes, holds a connection and its
memory indefinitely. Here every request must complete its headers within
``header_timeout`` seconds of its first byte (or of the connection, for the first
request, or of the previous answer plus the keep-alive time, for pipelined ones);
otherwise the connection is closed. The body has its own deadline in
``api/middleware.py``.

The deadline follows uvicorn's own per-request ``cycle``: a new cycle means the
headers of a request were parsed; an answered cycle means the next bytes start a new
request. Both of uvicorn's HTTP/1.1 implementations (h11, httptools) keep ``cycle``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("scalehook.server")


def _base() -> type[asyncio.Protocol]:
    """httptools when it is installed (as uvicorn's ``auto`` would pick), else h11."""
    if importlib.util.find_spec("httptools") is not None:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return HttpToolsProtocol
    return H11Protocol


def with_header_timeout(
    timeout: float, base: type[asyncio.Protocol] | None = None
) -> type[asyncio.Protocol]:
    """A protocol class for ``uvicorn.Config(http=...)`` that enforces ``timeout``."""
    parent: Any = base or _base()

    class HeaderDeadline(parent):  # type: ignore[misc]
        header_timeout = timeout

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self._header_timer: asyncio.TimerHandle | None = None
            self._seen_cycle: object = None
            self._idle = False  # the timer runs from the last answer, not from a first byte
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            between = self.cycle is None or self.cycle.response_complete
            if between and (self._header_timer is None or self._idle):
                self._arm()  # the first bytes of a new request on a kept-alive connection
            super().data_received(data)
            self._check()

        def on_response_complete(self) -> None:
            answered = self.cycle
            super().on_response_complete()
            self._check()  # a pipelined request may have started
            if self._header_timer is None and self.cycle is answered:
                # Bytes of a next request may already wait in the parser; an idle
                # connection is closed sooner by uvicorn's keep-alive timeout.
                self._arm(self.header_timeout + self.timeout_keep_alive)
                self._idle = True

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _check(self) -> None:
            if self.cycle is not self._seen_cycle:
                self._seen_cycle = self.cycle
                self._disarm()

        def _arm(self, delay: float | None = None) -> None:
            self._disarm()
            self._idle = False
            self._header_timer = asyncio.get_running_loop().call_later(
                self.header_timeout if delay is None else delay, self._expire
            )

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _expire(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                client = self.client[0] if self.client else "-"
                log.info(
                    "closed a connection from %s: no complete request headers in %gs",
                    client,
                    self.header_timeout,
                )
                self.transport.close()

    HeaderDeadline.__name__ = f"HeaderDeadline{parent.__name__}"
    HeaderDeadline.__qualname__ = HeaderDeadline.__name__
    return HeaderDeadline
