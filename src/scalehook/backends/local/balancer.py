"""The built-in TCP load balancer in front of a local service's ready replicas.

Each connection goes to the ready replica with the fewest open connections (round
robin among equals); a replica that refuses is skipped for the next one. Bytes are
piped both ways until either side closes. ``drained`` waits until a replica that no
longer gets new connections has none open (it is then safe to stop).

It counts what policies read (``BalancerStats``): connections open per replica, the
connections each was ever sent, when each and the service last got one. A connection
that finds no ready replica is handed to ``hold`` (the service's: at zero replicas it
asks for one and waits for it to be ready), and sent on if one is, else closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Protocol

from scalehook.loops.clock import Clock, SystemClock

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
    def __init__(
        self,
        host: str,
        port: int,
        targets: Callable[[], Sequence[Target]],
        *,
        clock: Clock | None = None,
        hold: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._targets = targets
        self._clock: Clock = clock or SystemClock()
        self._hold = hold
        self._server: asyncio.Server | None = None
        self._active: dict[str, int] = {}
        self._totals: dict[str, int] = {}
        self._last: dict[str, datetime] = {}
        self._turn = 0
        self._connections: set[asyncio.Task[None]] = set()
        self.waiting = 0  # connections held for want of a ready replica
        self.last_connection: datetime | None = None  # the last to arrive, for any replica
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
        """Connections open to the replica ``key`` now."""
        return self._active.get(key, 0)

    def total(self, key: str) -> int:
        """Connections the replica ``key`` has been sent, ever."""
        return self._totals.get(key, 0)

    def last(self, key: str) -> datetime | None:
        """When the replica ``key`` was last sent a connection."""
        return self._last.get(key)

    def forget(self, keep: set[str]) -> None:
        """Drop the counts of replicas that are gone."""
        for table in (self._totals, self._last):
            for key in set(table) - keep:
                del table[key]

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
        self.last_connection = self._clock.now()
        order = self._order()
        if not order and self._hold is not None:
            self.waiting += 1
            try:
                found = await self._hold()
            finally:
                self.waiting -= 1
            if found:
                order = self._order()
        for target in order:
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
            self._totals[target.key] = self._totals.get(target.key, 0) + 1
            self._last[target.key] = self._clock.now()
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
