"""The built-in TCP load balancer in front of a local service's ready replicas.

Each connection goes to the ready replica with the fewest open connections (round
robin among equals); a replica that refuses is skipped for the next one. Bytes are
piped both ways until either side closes. ``drained`` waits until a replica that no
longer gets new connections has none open (it is then safe to stop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024
_CONNECT_TIMEOUT = 2.0


class Target(Protocol):
    """A replica as the balancer needs it."""

    @property
    def key(self) -> str: ...

    @property
    def address(self) -> tuple[str, int] | None: ...


class Balancer:
    def __init__(self, host: str, port: int, targets: Callable[[], Sequence[Target]]) -> None:
        self.host = host
        self.port = port
        self._targets = targets
        self._server: asyncio.Server | None = None
        self._active: dict[str, int] = {}
        self._turn = 0
        self._connections: set[asyncio.Task[None]] = set()
        self._released = asyncio.Condition()  # notified whenever a connection ends

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, reuse_address=True
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None

    def connections(self, key: str) -> int:
        return self._active.get(key, 0)

    async def drained(self, key: str, timeout: float) -> bool:
        """Wait until ``key`` has no open connection (True), or ``timeout`` seconds pass
        (False). The caller has taken it out of the targets already."""
        try:
            async with asyncio.timeout(timeout), self._released:
                await self._released.wait_for(lambda: not self._active.get(key))
        except TimeoutError:
            return not self._active.get(key)
        return True

    def _order(self) -> list[Target]:
        ready = [t for t in self._targets() if t.address is not None]
        if not ready:
            return []
        self._turn = (self._turn + 1) % len(ready)
        rotated = ready[self._turn :] + ready[: self._turn]
        return sorted(rotated, key=lambda t: self._active.get(t.key, 0))

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            self._connections.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for target in self._order():
            address = target.address
            if address is None:
                continue
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_connection(*address), _CONNECT_TIMEOUT
                )
            except (OSError, TimeoutError):
                continue
            self._active[target.key] = self._active.get(target.key, 0) + 1
            try:
                await _splice(reader, writer, up_reader, up_writer)
            finally:
                self._active[target.key] -= 1
                if not self._active[target.key]:
                    del self._active[target.key]
                up_writer.close()
                async with self._released:
                    self._released.notify_all()
            return
        log.debug("no ready replica for connection on port %d", self.port)


async def _splice(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
) -> None:
    """Copy bytes both ways; half-closes pass through, an error closes both sides."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(_CHUNK):
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (ConnectionError, OSError):
            client_writer.close()
            up_writer.close()

    await asyncio.gather(pipe(client_reader, up_writer), pipe(up_reader, client_writer))
