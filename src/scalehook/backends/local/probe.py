"""Readiness probes for local replicas: a TCP connect, or one HTTP request."""

from __future__ import annotations

import asyncio
import contextlib

from scalehook.backends.local.spec import Readiness


async def probe(host: str, port: int, readiness: Readiness) -> bool:
    """True when the replica at ``host:port`` is ready to take traffic."""
    try:
        return await asyncio.wait_for(_probe(host, port, readiness), readiness.timeout)
    except (TimeoutError, OSError, ValueError):
        return False


async def _probe(host: str, port: int, readiness: Readiness) -> bool:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        if readiness.http is None:
            return True
        method, path, *version = readiness.http.split()
        line = f"{method} {path} {version[0] if version else 'HTTP/1.0'}\r\n"
        writer.write(f"{line}Host: {host}:{port}\r\nConnection: close\r\n\r\n".encode("latin-1"))
        await writer.drain()
        status_line = await reader.readline()
        parts = status_line.split(None, 2)
        return len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1][:1] in (b"2", b"3")
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
