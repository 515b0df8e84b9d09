"""No httpx, JSON or other non-domain exception leaves the docker and swarm backends.

Each backend's public methods are run against an address where nothing listens, and
against a real HTTP server on a unix socket (started here, in the test's event loop)
that misbehaves one way per case: a body that is not JSON, JSON of the wrong shape, a
body that is not the encoding it claims, a 500 with no body, an answer cut off
half-way, no answer at all, a Swarm refusal, an API too old, a 400. Every failure must
be a ``ScalehookError`` whose status says what a retry could do, and whose message says
what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from scalehook.backends.base import RolloutEvent, UpgradeStrategy
from scalehook.backends.docker import DockerBackend, DockerSettings
from scalehook.backends.swarm import SwarmBackend, SwarmSettings
from scalehook.errors import ScalehookError
from scalehook.testing import free_port

Answer = Callable[[asyncio.StreamWriter, asyncio.Event], Awaitable[None]]

VERSION = {"ApiVersion": "1.41", "MinAPIVersion": "1.12", "Version": "20.10.24"}
NOT_A_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
    "to connect this node to swarm and try again."
)


def head(status: str, body: bytes, *, length: int | None = None) -> bytes:
    size = len(body) if length is None else length
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
    ).encode() + body


def answering(data: bytes) -> Answer:
    async def answer(writer: asyncio.StreamWriter, _stop: asyncio.Event) -> None:
        writer.write(data)
        await writer.drain()

    return answer


async def cut_off(writer: asyncio.StreamWriter, _stop: asyncio.Event) -> None:
    """Promise 4096 bytes, send a few, hang up."""
    writer.write(head("200 OK", b'{"Id": "ab', length=4096))
    await writer.drain()
    writer.close()


async def silent(_writer: asyncio.StreamWriter, stop: asyncio.Event) -> None:
    """Read the request, never answer (until the test ends)."""
    await stop.wait()


class Peer:
    """A real HTTP/1.1 server on a unix socket; each request gets ``answer``. With
    ``version``, ``GET /version`` is answered as a good engine would, so that the
    misbehaviour reaches the backends' own calls, not only the API negotiation."""

    def __init__(self, path: Path, answer: Answer, *, version: bool) -> None:
        self.path = path
        self.answer = answer
        self.version = version
        self.requests: list[str] = []
        self._stop = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))

    async def close(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._handlers:
            await asyncio.wait(self._handlers)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while not writer.is_closing():
                request = await reader.readuntil(b"\r\n\r\n")
                lines = request.decode("latin-1").split("\r\n")
                length = next(
                    (int(v) for k, _, v in (line.partition(":") for line in lines[1:])
                     if k.strip().lower() == "content-length"),
                    0,
                )  # fmt: skip
                await reader.readexactly(length)
                path = lines[0].split(" ")[1].split("?")[0]
                self.requests.append(path)
                if self.version and path == "/version":
                    writer.write(head("200 OK", json.dumps(VERSION).encode()))
                    await writer.drain()
                    continue
                await self.answer(writer, self._stop)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            self._handlers.discard(task)


@dataclass(frozen=True)
class Case:
    name: str
    answer: Answer | None  # None: nothing listens
    status: int
    words: str  # what the message must say
    version: bool = True  # /version answered well (the misbehaviour starts after it)
    tcp: bool = False
    timeout: float = 10.0


CASES = [
    Case("no socket", None, 503, "unreachable"),
    Case("tcp port closed", None, 503, "unreachable", tcp=True),
    Case("not JSON", answering(head("200 OK", b'{"Id": "abc", "Na')), 502, "read"),
    Case(
        "not JSON from the first answer",
        answering(head("200 OK", b"<html>hello</html>")),
        502,
        "cannot read",
        version=False,
    ),
    Case("JSON of the wrong shape", answering(head("200 OK", b"[null]")), 502, "could not be read"),
    Case(
        "500 with no body",
        answering(head("500 Internal Server Error", b"")),
        502,
        "HTTP 500",
    ),
    Case(
        "500 with no body to the version",
        answering(head("500 Internal Server Error", b"")),
        502,
        "HTTP 500",
        version=False,
    ),
    Case(
        "a body that is not the gzip it says",
        answering(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Encoding: gzip\r\nContent-Length: 6\r\n\r\nnot gz"
        ),
        502,
        "unreadable body",
    ),
    Case("cut off mid-answer", cut_off, 503, "broken answer"),
    Case("cut off at the version", cut_off, 503, "broken answer", version=False),
    Case("no answer", silent, 503, "did not answer within", timeout=0.5),
    Case(
        "no answer to the version", silent, 503, "did not answer within", version=False, timeout=0.5
    ),
    Case(
        "not a swarm manager",
        answering(head("503 Service Unavailable", json.dumps({"message": NOT_A_MANAGER}).encode())),
        409,
        "not a swarm manager",
    ),
    Case(
        "an API too old",
        answering(head("200 OK", json.dumps({"ApiVersion": "1.30"}).encode())),
        409,
        "speaks API 1.30",
        version=False,
    ),
    Case(
        "a 400",
        answering(
            head(
                "400 Bad Request",
                b'{"message": "invalid reference format: repository name must be lowercase"}',
            )
        ),
        422,
        "invalid reference format",
    ),
]


async def progress(_event: RolloutEvent) -> None:
    return None


ARGUMENTS: dict[str, Any] = {
    "service": "web",
    "replicas": 2,
    "replica": "web-1",
    "image": "example/web:2",
    "previous": "example/web:1",
    "strategy": UpgradeStrategy(batch_size=1),
    "progress": progress,
    "selector": None,
    "start_first": False,
    "ready_timeout": 1.0,
    "cpus": 0.5,
    "memory": 256 * 1024 * 1024,
}
PER_METHOD: dict[str, dict[str, Any]] = {"replace_replicas": {"replicas": ["web-1"]}}
LIFECYCLE = {"start", "close"}


def calls(backend: object) -> Iterator[tuple[str, Callable[[], Awaitable[Any]]]]:
    """Every public coroutine method of the backend, with arguments from the tables."""
    for name, method in inspect.getmembers(backend, inspect.iscoroutinefunction):
        if name.startswith("_") or name in LIFECYCLE:
            continue
        kwargs: dict[str, Any] = {}
        for parameter in inspect.signature(method).parameters.values():
            given = {**ARGUMENTS, **PER_METHOD.get(name, {})}
            if parameter.name in given:
                kwargs[parameter.name] = given[parameter.name]
            elif parameter.default is inspect.Parameter.empty:
                pytest.fail(f"{name}({parameter.name}=...): add a value to ARGUMENTS")

        def call(method: Any = method, kwargs: dict[str, Any] = kwargs) -> Awaitable[Any]:
            return method(**kwargs)  # type: ignore[no-any-return]

        yield name, call


@pytest.mark.parametrize("kind", ["docker", "swarm"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_every_engine_failure_is_a_domain_error_with_its_retry_meaning(
    tmp_path: Path, kind: str, case: Case
) -> None:
    socket = tmp_path / "engine.sock"
    host = f"tcp://127.0.0.1:{free_port()}" if case.tcp else f"unix://{socket}"
    peer = None if case.answer is None else Peer(socket, case.answer, version=case.version)
    if peer is not None:
        await peer.start()
    backend: DockerBackend | SwarmBackend = (
        DockerBackend("box", DockerSettings(docker_host=host, timeout=case.timeout))
        if kind == "docker"
        else SwarmBackend("box", SwarmSettings(docker_host=host, timeout=case.timeout))
    )
    try:
        await backend.start()  # logs what it cannot reach, and carries on
        called = []
        for name, call in calls(backend):
            with pytest.raises(ScalehookError) as caught:
                await call()
            error = caught.value
            assert error.status == case.status, f"{name}: {error.status} {error.message}"
            assert case.words in error.message, f"{name}: {error.message}"
            if case.status >= 500 and "HTTP 500" not in case.words:
                assert error.__cause__ is not None, f"{name}: the cause is lost"
            called.append(name)
        assert {"list_services", "get_service", "scale", "upgrade"} <= set(called)
    finally:
        await backend.close()
        if peer is not None:
            await peer.close()
    if peer is not None:
        assert peer.requests, "the backend never reached the peer"
