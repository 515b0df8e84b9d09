"""The API's listening socket: its connections answer without waiting on Nagle."""

from __future__ import annotations

import asyncio
import socket

from scalehook.server import _listen


async def test_accepted_connections_have_tcp_nodelay() -> None:
    """asyncio sets TCP_NODELAY only on sockets that say IPPROTO_TCP; without it an
    answer's body waits for the delayed ACK of its headers (~40 ms a request)."""
    sock = _listen("127.0.0.1", 0)
    nodelay: list[int] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nodelay.append(
            writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        )
        writer.close()
        await writer.wait_closed()

    async with await asyncio.start_server(on_connect, sock=sock):
        reader, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        assert await reader.read() == b""  # closed by the server once it has looked
        writer.close()
        await writer.wait_closed()
    assert nodelay and nodelay[0] != 0
