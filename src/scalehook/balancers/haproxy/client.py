"""An asyncio client of HAProxy's Runtime API, one command per connection.

Each command opens the stats socket (a Unix socket, or TCP), sends
``set severity-output string; <command>``, and reads until HAProxy closes the
connection, which it does after answering in its non-interactive mode. A connection
per command costs a few tens of microseconds on a local socket and means a restarted
HAProxy is found again with nothing to reset. The severity prefix is what tells an
error from an answer: HAProxy prints ``[err]: ...`` for a refusal and ``[info]: ...``
or plain output otherwise.

Failures stop here, as the domain's errors (the cause chained):

- the socket missing, refusing, cutting off or timing out → ``HAProxyUnavailable``
  (503: HAProxy restarting or down; a retry may pass);
- ``Permission denied`` (a socket below level admin), a socket file scalehook may not
  open, or a command this HAProxy does not know (older than 2.6) →
  ``HAProxyUnsupported`` (409: only an operator can change that);
- no such backend, server or proxy → ``HAProxyNotFound``; any other ``[err]`` →
  ``HAProxyError`` (502), with HAProxy's words in ``haproxy_text``;
- an answer that does not read as its command's format → ``BackendError`` (502).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Sequence
from typing import Literal, TypeVar

from scalehook.balancers.haproxy import answers
from scalehook.balancers.haproxy.answers import ServerConnections, ServerLoad, ServerState
from scalehook.errors import BackendError, BackendUnavailable, BackendUnsupported

_PARALLEL = 4  # connections at once: HAProxy's stats socket takes 10 by default
_READ = 65536
_NOT_FOUND = ("can't find backend", "no such backend", "no such server", "no such proxy")
_UNKNOWN = "unknown command"
_NO_ROOM = ("\n", "\r", ";")

AdminState = Literal["ready", "drain", "maint"]
T = TypeVar("T")


class HAProxyError(BackendError):
    """HAProxy refused a command (``[err]``); ``haproxy_text`` is what it said."""

    def __init__(self, message: str, *, haproxy_text: str) -> None:
        super().__init__(message)
        self.haproxy_text = haproxy_text


class HAProxyNotFound(HAProxyError):
    """No such backend, server or proxy."""


class HAProxyUnsupported(HAProxyError, BackendUnsupported):
    """The socket is not at level admin, scalehook may not open it, or HAProxy does not
    know the command: no retry passes until an operator changes it."""


class HAProxyUnavailable(BackendUnavailable):
    """The Runtime API cannot be reached now (HAProxy down or restarting), or timed out."""


class RuntimeAPI:
    """One HAProxy's Runtime API, at ``socket`` (a path) or ``tcp`` (host, port)."""

    def __init__(
        self,
        *,
        socket: str | None = None,
        tcp: tuple[str, int] | None = None,
        timeout: float = 5.0,
    ) -> None:
        if (socket is None) == (tcp is None):
            raise ValueError("give the Runtime API's socket or its tcp address, one of them")
        self.socket = socket
        self.tcp = tcp
        self.timeout = timeout
        self.display = socket if socket is not None else f"{tcp[0]}:{tcp[1]}"  # type: ignore[index]
        self._limit = asyncio.Semaphore(_PARALLEL)

    # the one boundary ----------------------------------------------------------------

    async def command(self, line: str) -> str:
        """Run one command and return what HAProxy printed (the severity prefix of a
        one-line message taken off); raise the domain's error for a refusal."""
        if any(c in line for c in _NO_ROOM):
            raise ValueError(f"one command per call, without ';' or a line break: {line!r}")
        async with self._limit:
            raw = await self._exchange(f"set severity-output string; {line}\n".encode())
        text = raw.decode("utf-8", errors="replace").lstrip("\n")
        head = text.strip()
        if head.startswith("[err]:"):
            said = head.removeprefix("[err]:").strip()
            raise self._refusal(line, said)
        for prefix in ("[info]:", "[notice]:", "[warning]:"):
            if head.startswith(prefix):
                said = head.removeprefix(prefix).strip()
                if said.lower().startswith(_UNKNOWN):
                    raise HAProxyUnsupported(
                        f"HAProxy at {self.display} does not know {_verb(line)!r} "
                        "(scalehook needs HAProxy 2.6 or later)",
                        haproxy_text=said.splitlines()[0],
                    )
                return said
        return text

    async def _exchange(self, request: bytes) -> bytes:
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(self.timeout):
                if self.socket is not None:
                    reader, writer = await asyncio.open_unix_connection(self.socket)
                else:
                    assert self.tcp is not None
                    reader, writer = await asyncio.open_connection(*self.tcp)
                writer.write(request)
                await writer.drain()
                chunks = []
                while chunk := await reader.read(_READ):
                    chunks.append(chunk)
                return b"".join(chunks)
        except PermissionError as exc:
            raise HAProxyUnsupported(
                f"cannot open HAProxy's socket {self.display}: permission denied (the user "
                "scalehook runs as needs read and write access to it)",
                haproxy_text="",
            ) from exc
        except TimeoutError as exc:
            raise HAProxyUnavailable(
                f"HAProxy at {self.display} did not answer within {self.timeout:g}s"
            ) from exc
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else exc.strerror or type(exc).__name__
            raise HAProxyUnavailable(f"cannot reach HAProxy at {self.display}: {reason}") from exc
        finally:
            if writer is not None:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()

    def _refusal(self, line: str, said: str) -> HAProxyError:
        message = f"HAProxy at {self.display} refused {_verb(line)!r}: {said}"
        lowered = said.lower()
        if lowered.startswith("permission denied"):
            return HAProxyUnsupported(
                f"HAProxy's socket {self.display} is not at level admin ({said}): "
                "give it 'level admin' in haproxy.cfg",
                haproxy_text=said,
            )
        if any(lowered.startswith(text) for text in _NOT_FOUND):
            return HAProxyNotFound(message, haproxy_text=said)
        return HAProxyError(message, haproxy_text=said)

    # typed commands ------------------------------------------------------------------

    async def level(self) -> str:
        """The socket's level: ``admin``, ``operator`` or ``user``."""
        return (await self.command("show cli level")).strip()

    async def servers(self, backend: str) -> list[ServerState]:
        """``show servers state <backend>``; ``HAProxyNotFound`` if it has no such backend."""
        text = await self.command(f"show servers state {backend}")
        return _parsed("show servers state", text, answers.servers_state)

    async def loads(self, backend: str) -> list[ServerLoad]:
        """``show stat <backend> 4 -1``: the traffic of each server of ``backend``."""
        text = await self.command(f"show stat {backend} 4 -1")
        return _parsed("show stat", text, answers.stat)

    async def connections(self, backend: str) -> list[ServerConnections]:
        """``show servers conn <backend>``: connections in use and idle, per server."""
        text = await self.command(f"show servers conn {backend}")
        return _parsed("show servers conn", text, answers.servers_conn)

    async def streams(self, backend: str, server: str) -> int:
        """Streams that refer to ``backend/server`` (``show sess``). HAProxy 2.6 lets
        ``del server`` go while streams retrying a connection still refer to the server
        (``scur`` does not count them), which can crash it later; 2.9 refuses that."""
        text = await self.command("show sess")
        listed = _parsed("show sess", text, answers.streams)
        return sum(1 for be, srv in listed if be == backend and srv == server)

    async def add_server(
        self, backend: str, server: str, endpoint: str, options: Sequence[str] = ()
    ) -> None:
        """``add server``: the server starts in maintenance, its check disabled."""
        await self.command(" ".join(["add server", f"{backend}/{server}", endpoint, *options]))

    async def enable_health(self, backend: str, server: str) -> None:
        await self.command(f"enable health {backend}/{server}")

    async def set_state(self, backend: str, server: str, state: AdminState) -> None:
        await self.command(f"set server {backend}/{server} state {state}")

    async def set_address(self, backend: str, server: str, host: str, port: int) -> None:
        await self.command(f"set server {backend}/{server} addr {host} port {port}")

    async def shutdown_sessions(self, backend: str, server: str) -> None:
        await self.command(f"shutdown sessions server {backend}/{server}")

    async def delete_server(self, backend: str, server: str) -> None:
        """``del server``: only a server in maintenance with no connection left."""
        await self.command(f"del server {backend}/{server}")


def _verb(line: str) -> str:
    """A command without its arguments past the target: what a message may quote."""
    return " ".join(line.split()[:3])


def _parsed(command: str, text: str, parse: Callable[[str], T]) -> T:
    """``parse(text)``, or a ``BackendError`` naming the command whose answer it is."""
    try:
        return parse(text)
    except (ValueError, KeyError) as exc:
        raise BackendError(f"HAProxy's answer to {command!r} does not read: {exc}") from exc
