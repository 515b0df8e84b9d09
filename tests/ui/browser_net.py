"""The browser's own network namespace, so the machine's network churn cannot reach it.

Chromium aborts the requests it has in flight with ``net::ERR_NETWORK_CHANGED`` whenever
an address appears or goes on any interface of its namespace, and the engine and lab
tests that run beside these do that all the time (Docker networks, veths, bridges,
namespaces). A module of the page lost that way leaves the UI undrawn: CI saw the
sign-in form never appear. Here Chromium runs in a namespace of its own, with only its
loopback, which nothing else touches; a relay makes a server's ``127.0.0.1`` port
answer there too, so every URL (and the secure context ``127.0.0.1`` gives, which the
clipboard needs) is the one the server has outside.

Namespaces need root (as ``tests/hosts`` does); without it, Chromium runs where the
tests do, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

from scalehook.hosts.providers.netns.network import namespace_path

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def possible() -> bool:
    return os.geteuid() == 0 and all(shutil.which(tool) for tool in ("ip", "nsenter"))


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"setns: {os.strerror(error)}")


def _ip(*args: str, check: bool = True) -> None:
    subprocess.run(["ip", *args], check=check, capture_output=True, timeout=30)


class BrowserNetwork:
    """A network namespace for Chromium, and relays into it from this machine's ports."""

    def __init__(self, directory: Path, chromium: str) -> None:
        self.name = f"shk-ui-{os.getpid()}"
        self.path = namespace_path(self.name)
        _ip("netns", "del", self.name, check=False)  # what a killed run left
        _ip("netns", "add", self.name)
        _ip("-n", self.name, "link", "set", "lo", "up")
        self.chromium = directory / "chromium-in-netns"
        self.chromium.write_text(f'#!/bin/sh\nexec nsenter --net={self.path} {chromium} "$@"\n')
        self.chromium.chmod(0o755)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._relays: dict[int, asyncio.Server] = {}

    def expose(self, port: int) -> None:
        """Make ``127.0.0.1:port`` inside answer as ``127.0.0.1:port`` outside does."""
        if port in self._relays:
            return
        listening = self._listen_inside(port)
        started = asyncio.run_coroutine_threadsafe(self._serve(listening, port), self._loop)
        self._relays[port] = started.result(timeout=10)

    def close(self) -> None:
        async def stop() -> None:
            for relay in self._relays.values():
                relay.close()
            for task in asyncio.all_tasks() - {asyncio.current_task()}:
                task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        _ip("netns", "del", self.name, check=False)

    def _listen_inside(self, port: int) -> socket.socket:
        # A socket belongs to the namespace its thread was in when it was made: this
        # thread steps in, makes it, and steps back out.
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        inside = os.open(self.path, os.O_RDONLY)
        try:
            _setns(inside)
            try:
                listening = socket.create_server(("127.0.0.1", port))
            finally:
                _setns(own)
        finally:
            os.close(inside)
            os.close(own)
        listening.setblocking(False)
        return listening

    async def _serve(self, listening: socket.socket, port: int) -> asyncio.Server:
        async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                writer.close()
                return
            try:
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                for end in (writer, up_writer):
                    end.close()

        return await asyncio.start_server(relay, sock=listening)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until the end, then pass the end on (a half-close, as TCP has)."""
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()


@contextlib.contextmanager
def browser_network(directory: Path, chromium: str) -> Iterator[BrowserNetwork | None]:
    """A namespace for ``chromium`` where one can be made (root), else None."""
    if not possible():
        yield None
        return
    network = BrowserNetwork(directory, chromium)
    try:
        yield network
    finally:
        network.close()
