"""``scalehook serve``: start the runtime, serve HTTP, and stop every child on the way out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator

import uvicorn

from scalehook.app import build_app
from scalehook.clientconfig import write_client_config
from scalehook.config import Settings
from scalehook.protocol import with_header_timeout
from scalehook.runtime import Runtime

log = logging.getLogger("scalehook")


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if logging.getLogger().level > logging.DEBUG:
        # httpx logs every request at INFO, and the engine backends make many
        logging.getLogger("httpx").setLevel(logging.WARNING)
    # These log SQL with its parameters, which hold receivers' secrets: never, at any level.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM/SIGINT once it has stopped serving, which would kill
    the process before scalehook stops its replicas. Here the signal only asks the
    server to stop; ``serve`` then cleans up and returns."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, self.handle_exit)
        yield


async def serve(settings: Settings) -> None:
    runtime = Runtime(settings)
    await runtime.start()
    try:
        server = _Server(
            uvicorn.Config(
                build_app(runtime),
                http=with_header_timeout(settings.server.header_timeout),
                host=settings.server.host,
                port=settings.server.port,
                log_config=None,
                access_log=False,
                lifespan="off",
                server_header=False,
                proxy_headers=bool(settings.server.trusted_proxies),
                forwarded_allow_ips=settings.server.trusted_proxies or None,
                timeout_keep_alive=int(settings.server.keep_alive),
                timeout_graceful_shutdown=5,
            )
        )
        serving = asyncio.create_task(server.serve())
        while not server.started and not serving.done():
            await asyncio.sleep(0.01)
        if server.started:
            _announce(server, runtime)
        await serving
    finally:
        await runtime.close()
        log.info("stopped")


def _announce(server: uvicorn.Server, runtime: Runtime) -> None:
    host = runtime.settings.server.host
    port = runtime.settings.server.port
    for listener in server.servers:
        for sock in listener.sockets:
            port = sock.getsockname()[1]
            break
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
    url = f"http://{shown}:{port}"
    path = write_client_config(url, runtime.generated_token)
    log.info("scalehook listening on %s (API docs at %s/docs)", url, url)
    if runtime.generated_token is not None:
        # Printed once, straight to the terminal, never through logging.
        print(
            f"\nGenerated admin token (shown once, kept only as a hash; also saved for the "
            f"CLI in {path}):\n\n    {runtime.generated_token}\n",
            flush=True,
        )
