"""Limits at the edge: body size, slow clients, and per-receiver rate limits."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from scalehook.testing import ServerProcess
from tests.conftest import ServerFactory, web_service

SLOW = {"header_timeout": "1s", "request_timeout": "1s"}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with 1 s request timeouts, a 4 KiB body limit and a receiver at its max."""
    server = ServerProcess(
        tmp_path_factory.mktemp("limits"),
        {
            "services": {"web": web_service(replicas=1)},
            "server": SLOW,
            "hooks": {"max_body": 4096, "rate": 10_000, "burst": 10_000},
        },
    )
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def hook_path(limited: ServerProcess) -> str:
    receiver = limited.create_receiver("at-max", service="web", action="up", max=1)
    return urlsplit(str(receiver["url"])).path


def connect(server: ServerProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.settimeout(10)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection (or 10 s pass)."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (TimeoutError, ConnectionResetError):
        pass
    return b"".join(chunks)


def trickle(sock: socket.socket, data: bytes, *, pause: float) -> bool:
    """Send ``data`` a byte at a time; False once the server has closed the connection."""
    for byte in data:
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            return False
        time.sleep(pause)
    return True


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


# body size ------------------------------------------------------------------------


def test_a_body_over_the_limit_is_413(limited: ServerProcess, hook_path: str) -> None:
    response = httpx.post(limited.url + hook_path, content=b"x" * 5000)
    assert response.status_code == 413
    assert response.json() == {
        "error": "payload_too_large",
        "message": "the body is larger than 4096 bytes",
    }


def test_a_chunked_body_over_the_limit_is_413(limited: ServerProcess, hook_path: str) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"y" * 1000

    response = httpx.post(limited.url + hook_path, content=chunks())
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


def test_a_body_at_the_limit_is_accepted(limited: ServerProcess, hook_path: str) -> None:
    response = httpx.post(limited.url + hook_path, content=b"z" * 4096)
    assert response.status_code == 200
    assert response.json()["result"] == "noop"


# slow clients ---------------------------------------------------------------------


def test_headers_sent_byte_by_byte_are_cut_off_while_others_are_served(
    limited: ServerProcess, hook_path: str
) -> None:
    """A slow-loris client is dropped after ``header_timeout``; everyone else is served."""
    request = f"POST {hook_path} HTTP/1.1\r\nHost: x\r\n".encode() + b"X-Slow: " + b"a" * 200
    slow = [connect(limited) for _ in range(20)]
    outcomes: list[bool] = []
    threads = [
        threading.Thread(target=lambda s=s: outcomes.append(trickle(s, request, pause=0.05)))
        for s in slow
    ]
    for thread in threads:
        thread.start()
    served = [httpx.get(limited.url + "/healthz", timeout=5).status_code for _ in range(20)]
    triggered = httpx.post(limited.url + hook_path, timeout=5)
    for thread in threads:
        thread.join()
    assert served == [200] * 20
    assert triggered.status_code == 200
    assert outcomes == [False] * 20  # every slow client was cut off before it finished
    for sock in slow:
        sock.close()


def test_a_connection_that_never_sends_is_closed(limited: ServerProcess) -> None:
    with connect(limited) as sock:
        assert closed_by_server(sock)


def test_unfinished_headers_are_closed_without_an_answer(
    limited: ServerProcess, hook_path: str
) -> None:
    with connect(limited) as sock:
        sock.sendall(f"POST {hook_path} HTTP/1.1\r\nHost: x\r\n".encode())
        assert closed_by_server(sock)


def test_a_second_request_on_a_kept_alive_connection_has_the_same_deadline(
    limited: ServerProcess,
) -> None:
    with connect(limited) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        assert not trickle(sock, b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"b" * 200, pause=0.05)


def test_a_body_that_never_arrives_is_408(limited: ServerProcess, hook_path: str) -> None:
    with connect(limited) as sock:
        sock.sendall(
            f"POST {hook_path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n".encode()
        )
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408")
    assert b'"error":"request_timeout"' in answer
    assert b"connection: close" in answer.lower()  # the unread body makes it unusable


def test_a_trickling_body_is_408_before_it_ends(limited: ServerProcess, hook_path: str) -> None:
    """One deadline for the whole body, not one per chunk."""
    with connect(limited) as sock:
        sock.sendall(
            f"POST {hook_path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n".encode()
        )
        finished = trickle(sock, b"{" + b" " * 98 + b"}", pause=0.1)
        answer = read_all(sock)
    assert not finished  # cut off before the client had sent it all
    assert answer.startswith(b"HTTP/1.1 408")


# rate limits ----------------------------------------------------------------------


def fire(url: str, times: int) -> list[httpx.Response]:
    with httpx.Client(timeout=30) as client:
        return [client.post(url) for _ in range(times)]


def test_a_flood_from_one_caller_is_limited_per_receiver(make_server: ServerFactory) -> None:
    # rate 0.01/s: no token comes back during the test, so the counts are exact.
    server = make_server(
        {
            "services": {"web": web_service(replicas=1)},
            "hooks": {"rate": 0.01, "burst": 3, "receivers": {"vip": {"rate": 0.01, "burst": 6}}},
        }
    )
    plain = server.create_receiver("plain", service="web", action="up", max=1)
    other = server.create_receiver("other", service="web", action="up", max=1)
    vip = server.create_receiver("vip", service="web", action="up", max=1)

    flood = fire(plain["url"], 10)
    assert [r.status_code for r in flood] == [200] * 3 + [429] * 7
    limited = flood[-1]
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"] == "rate_limited"
    assert limited.json()["message"] == "receiver 'plain' is limited to 0.01 triggers/s"
    assert [r.status_code for r in fire(other["url"], 4)] == [200] * 3 + [429]
    assert [r.status_code for r in fire(vip["url"], 8)] == [200] * 6 + [429] * 2
    metrics = httpx.get(server.url + "/metrics").text
    assert (
        'scalehook_triggers_total{driver="scaleService",receiver="plain",result="rate_limited"} 7.0'
        in metrics
    )
    recorded: list[dict[str, Any]] = server.client.get(
        "/v1/executions", params={"receiver": "plain"}
    ).json()
    assert len(recorded) == 3  # refused triggers are not executions


def test_a_bad_limit_in_the_config_stops_the_start(make_server: ServerFactory) -> None:
    with pytest.raises(RuntimeError, match=r"hooks\.receivers\.vip\.burst"):
        make_server({"hooks": {"receivers": {"vip": {"rate": 1, "burst": 0}}}})
    with pytest.raises(RuntimeError, match=r"server\.header_timeout"):
        make_server({"server": {"header_timeout": 0}}, name="second")
