"""``scalehook serve``: start the runtime, serve HTTP, and stop every child on the way out."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Iterator

import uvicorn

from scalehook.app import build_app
from scalehook.clientconfig import write_client_config
from scalehook.config import Settings
from scalehook.errors import ScalehookError
from scalehook.protocol import with_header_timeout
from scalehook.runtime import Runtime

log = logging.getLogger("scalehook")


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM/SIGINT once it has stopped serving, which would kill
    the process before scalehook stops its replicas. Here the signal only asks the
    server to stop; ``serve`` then cleans up and returns."""

    def __init__(self, config: uvicorn.Config, runtime: Runtime) -> None:
        super().__init__(config)
        self.runtime = runtime

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, self.handle_exit)
        yield

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Open streams (GET /v1/executions/stream) end now, not at the graceful timeout.
        self.runtime.stopping.set()
        await super().shutdown(sockets)


async def serve(settings: Settings) -> None:
    runtime = Runtime(settings)
    await runtime.start()
    try:
        host, port = settings.server.host, settings.server.port
        sock = _listen(host, port)
        # Told before the first request can arrive: once /healthz answers, the CLI's
        # file is written.
        _announce(host, sock.getsockname()[1], runtime)
        server = _Server(
            uvicorn.Config(
                build_app(runtime),
                http=with_header_timeout(settings.server.header_timeout),
                host=host,
                port=port,
                log_config=None,
                access_log=False,
                lifespan="off",
                server_header=False,
                proxy_headers=bool(settings.server.trusted_proxies),
                forwarded_allow_ips=settings.server.trusted_proxies or None,
                timeout_keep_alive=int(settings.server.keep_alive),
                timeout_graceful_shutdown=5,
            ),
            runtime,
        )
        await server.serve(sockets=[sock])
    finally:
        await runtime.close()
        log.info("stopped")


def _listen(host: str, port: int) -> socket.socket:
    """The API's listening socket, bound before anything is announced."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on accepted sockets that say
    # TCP, and without it each answer's body waits for the client's delayed ACK of its
    # headers (Nagle): about 40 ms a request on a kept-alive connection.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ScalehookError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.set_inheritable(True)
    return sock


def _announce(host: str, port: int, runtime: Runtime) -> None:
    """Say where scalehook listens, and where a generated admin token is (never what it
    is: neither the log nor stdout, which end up in ``docker logs``, ever holds it)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
    url = f"http://{shown}:{port}"
    path = write_client_config(url, runtime.generated_token)
    log.info("scalehook listening on %s (API docs at %s/docs)", url, url)
    if runtime.generated_token is not None:
        log.warning(
            "generated an admin token: it is in %s (mode 0600) and, for the CLI, in %s; "
            "scalehook keeps only its hash",
            runtime.token_file,
            path,
            extra={"token_file": str(runtime.token_file)},
        )
