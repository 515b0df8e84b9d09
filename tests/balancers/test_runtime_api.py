"""The Runtime API client against a real HAProxy 2.6: every command scalehook sends, the
answers it reads, and each failure as the domain error it becomes."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from scalehook.balancers import servers
from scalehook.balancers.haproxy import (
    HAProxyError,
    HAProxyNotFound,
    HAProxyUnavailable,
    HAProxyUnsupported,
    RuntimeAPI,
)
from scalehook.domain.membership import Present, Wanted
from scalehook.errors import BackendUnavailable, BackendUnsupported
from scalehook.loops.clock import SystemClock
from tests.balancers.haproxy import HAProxy


class _Slow(BaseHTTPRequestHandler):
    """Answers after a pause the path names (``/0.5``), so a drain has something to wait for."""

    def do_GET(self) -> None:
        delay = float(self.path.strip("/") or 0)
        threading.Event().wait(delay)
        body = b"hello from slow\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[tuple[str, int]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield ("127.0.0.1", server.server_address[1])
    server.shutdown()
    server.server_close()


def api_of(haproxy: HAProxy) -> RuntimeAPI:
    return RuntimeAPI(socket=str(haproxy.socket), timeout=5)


async def test_a_server_is_added_enabled_read_back_moved_drained_and_deleted(
    haproxy: HAProxy, upstream: tuple[str, int]
) -> None:
    api = api_of(haproxy)
    assert await api.level() == "admin"
    host, port = upstream
    wanted = Wanted(name="shk-web-1", host=host, port=port, service="web", replica="web-1")
    await servers.add(api, "web_be", wanted)
    state = {s.name: s for s in await api.servers("web_be")}
    assert set(state) == {"keep", "shk-web-1"}
    assert state["keep"].maint  # the config's `disabled` server
    assert state["shk-web-1"].ready and state["shk-web-1"].endpoint == f"{host}:{port}"
    answer = await asyncio.to_thread(httpx.get, haproxy.url + "/0", timeout=5)
    assert answer.text == "hello from slow\n"

    loads = {load.name: load for load in await api.loads("web_be")}
    assert loads["shk-web-1"].total == 1 and loads["shk-web-1"].in_flight == 0
    assert loads["shk-web-1"].status in ("UP", "no check")
    conns = {c.name: c for c in await api.connections("web_be")}
    assert conns["shk-web-1"].used == 0

    # a request in flight: drain waits for it, then maintenance, then delete
    slow = asyncio.create_task(asyncio.to_thread(httpx.get, haproxy.url + "/0.6", timeout=5))
    while await servers.sessions(api, "web_be", "shk-web-1") == 0:
        await asyncio.sleep(0.01)
    present = Present(
        name="shk-web-1", host=host, port=port, ready=True, maint=False, since_change=0
    )
    assert await servers.drain(api, SystemClock(), "web_be", present, timeout=5)
    assert slow.done() and (await slow).status_code == 200  # it finished before the drain did
    assert (await api.servers("web_be"))[1].maint
    assert await servers.delete(api, SystemClock(), "web_be", "shk-web-1")
    assert [s.name for s in await api.servers("web_be")] == ["keep"]


async def test_a_drain_that_outlasts_its_timeout_cuts_the_sessions_off(
    haproxy: HAProxy, upstream: tuple[str, int]
) -> None:
    api = api_of(haproxy)
    host, port = upstream
    await servers.add(
        api, "web_be", Wanted(name="shk-a", host=host, port=port, service="web", replica="a")
    )
    slow = asyncio.create_task(asyncio.to_thread(_status, haproxy.url + "/5"))
    while await servers.sessions(api, "web_be", "shk-a") == 0:
        await asyncio.sleep(0.01)
    present = Present(name="shk-a", host=host, port=port, ready=True, maint=False, since_change=0)
    assert not await servers.drain(api, SystemClock(), "web_be", present, timeout=0.3)
    assert await slow != "200"  # cut short by `shutdown sessions`, well before its 5s
    assert await servers.delete(api, SystemClock(), "web_be", "shk-a")


def _status(url: str) -> str:
    try:
        return str(httpx.get(url, timeout=10).status_code)
    except httpx.HTTPError as exc:
        return type(exc).__name__


async def test_address_moves_and_checks_are_sent_as_asked(
    haproxy: HAProxy, upstream: tuple[str, int]
) -> None:
    api = api_of(haproxy)
    host, port = upstream
    checked = Wanted(
        name="shk-c",
        host=host,
        port=1,
        service="web",
        replica="c",
        keywords=("check", "inter", "200ms", "weight", "7"),
        check=True,
    )
    await servers.add(api, "web_be", checked)
    await servers.move(api, "web_be", Wanted("shk-c", host, port, "web", "c"))
    state = {s.name: s for s in await api.servers("web_be")}["shk-c"]
    assert state.port == port
    # the check now passes on the new port: HAProxy reports it UP (checked, not "no check")
    for _ in range(100):
        loads = {load.name: load for load in await api.loads("web_be")}
        if loads["shk-c"].status == "UP":
            break
        await asyncio.sleep(0.05)
    assert loads["shk-c"].status == "UP"
    row = next(
        line.split()
        for line in haproxy.command("show servers state web_be").splitlines()
        if " shk-c " in line
    )
    assert row[7] == "7"  # srv_uweight: the option reached HAProxy


async def test_tcp_sockets_work_the_same(haproxy: HAProxy) -> None:
    api = RuntimeAPI(tcp=("127.0.0.1", haproxy.tcp_port))
    assert await api.level() == "admin"
    assert [s.name for s in await api.servers("web_be")] == ["keep"]


async def test_refusals_become_the_domain_errors_with_haproxys_words(haproxy: HAProxy) -> None:
    api = api_of(haproxy)
    with pytest.raises(HAProxyNotFound, match="refused 'show servers state'"):
        await api.servers("nope_be")
    with pytest.raises(HAProxyNotFound):
        await api.set_state("web_be", "shk-missing", "maint")
    with pytest.raises(HAProxyError) as refused:
        await api.add_server("static_be", "shk-x", "127.0.0.1:1")
    assert "dynamic load balancing" in refused.value.haproxy_text
    assert refused.value.status == 502
    with pytest.raises(HAProxyError, match="unknown keyword"):
        await api.add_server("web_be", "shk-y", "127.0.0.1:1", ["bogus"])
    with pytest.raises(ValueError, match="one command per call"):
        await api.command("show info; show sess")


async def test_a_socket_below_admin_is_unsupported(haproxy: HAProxy) -> None:
    api = RuntimeAPI(socket=str(haproxy.user_socket))
    assert await api.level() == "user"
    with pytest.raises(HAProxyUnsupported, match="not at level admin") as caught:
        await api.add_server("web_be", "shk-z", "127.0.0.1:1")
    assert isinstance(caught.value, BackendUnsupported) and caught.value.status == 409


async def test_no_haproxy_is_unavailable_never_a_crash(haproxy: HAProxy, tmp_path: Path) -> None:
    missing = RuntimeAPI(socket=str(tmp_path / "nothing.sock"))
    with pytest.raises(HAProxyUnavailable, match="No such file") as caught:
        await missing.level()
    assert isinstance(caught.value, BackendUnavailable) and caught.value.status == 503
    assert isinstance(caught.value.__cause__, OSError)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    with pytest.raises(HAProxyUnavailable, match="Connection refused"):
        await RuntimeAPI(tcp=("127.0.0.1", closed)).level()
    # a peer that accepts and never answers: a timeout, as HAProxyUnavailable
    with socket.socket() as mute:
        mute.bind(("127.0.0.1", 0))
        mute.listen()
        silent = RuntimeAPI(tcp=mute.getsockname(), timeout=0.3)
        with pytest.raises(HAProxyUnavailable, match=r"did not answer within 0\.3s"):
            await silent.level()
    haproxy.kill()
    with pytest.raises(HAProxyUnavailable):
        await api_of(haproxy).servers("web_be")


async def test_a_server_that_streams_still_refer_to_is_not_deleted_until_they_end(
    haproxy: HAProxy,
) -> None:
    """A replica that died with requests on the way: HAProxy retries them on the dead
    server (``scur`` 0, yet the streams point at it) and 2.6 would let ``del server``
    free it under them. scalehook waits until ``show sess`` lists none."""
    api = api_of(haproxy)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    await servers.add(api, "web_be", Wanted("shk-dead", "127.0.0.1", dead, "web", "dead"))
    retrying = [
        asyncio.create_task(asyncio.to_thread(_status, haproxy.url + "/0")) for _ in range(4)
    ]
    while not await api.streams("web_be", "shk-dead"):
        await asyncio.sleep(0.01)
    assert await servers.sessions(api, "web_be", "shk-dead") == 0  # not counted there
    await api.set_state("web_be", "shk-dead", "maint")
    clock = SystemClock()
    assert not await servers.delete(api, clock, "web_be", "shk-dead", patience=0.1)
    assert "shk-dead" in {s.name for s in await api.servers("web_be")}
    assert set(await asyncio.gather(*retrying)) == {"503"}  # HAProxy gave up on them
    assert await servers.delete(api, clock, "web_be", "shk-dead")
    assert "shk-dead" not in {s.name for s in await api.servers("web_be")}
    assert haproxy.process is not None and haproxy.process.poll() is None
