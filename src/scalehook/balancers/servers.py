"""The changes scalehook makes to an HAProxy backend's servers, each as the Runtime API
wants it done:

- add: ``add server`` (it starts in maintenance, checks off), ``enable health`` when
  the server has ``check``, then ``set server ... state ready``;
- move: ``set server ... addr <ip> port <port>`` (a replica that came back elsewhere);
- enable: ``set server ... state ready``;
- remove: ``set server ... state drain``, wait until ``show stat`` shows no session and
  no queue on it (or the drain timeout passes), ``state maint`` (and ``shutdown
  sessions`` for what outlived the timeout), then ``del server`` once ``show sess``
  lists no stream on it. HAProxy 2.6 deletes a server that streams still refer to (a
  request retrying a replica that died: ``scur`` does not count it) and may crash on
  it later, so scalehook waits for those; and HAProxy refuses ``del server`` while idle
  connections remain. Either way the server stays in maintenance, taking no traffic,
  and a later reconcile deletes it.
"""

from __future__ import annotations

import logging

from scalehook.balancers.haproxy import HAProxyError, HAProxyNotFound, RuntimeAPI
from scalehook.domain.membership import Present, Wanted
from scalehook.loops.clock import Clock

log = logging.getLogger(__name__)

_POLL = 0.05  # seconds between two looks at a draining server's sessions
_PATIENCE = 2.0  # seconds a removal waits for a server's last streams before leaving it


async def add(api: RuntimeAPI, backend: str, server: Wanted) -> None:
    await api.add_server(backend, server.name, server.endpoint, server.keywords)
    if server.check:
        await api.enable_health(backend, server.name)
    await api.set_state(backend, server.name, "ready")


async def move(api: RuntimeAPI, backend: str, server: Wanted) -> None:
    await api.set_address(backend, server.name, server.host, server.port)


async def enable(api: RuntimeAPI, backend: str, server: Wanted) -> None:
    await api.set_state(backend, server.name, "ready")


async def sessions(api: RuntimeAPI, backend: str, server: str) -> int | None:
    """Sessions open on or queued for ``server`` now; None if HAProxy lists no such server."""
    for load in await api.loads(backend):
        if load.name == server:
            return load.in_flight + load.queued
    return None


async def drain(
    api: RuntimeAPI, clock: Clock, backend: str, server: Present, *, timeout: float
) -> bool:
    """Put ``server`` in drain (no new sessions) and wait until it has none, at most
    ``timeout`` seconds; then in maintenance. True if it had drained in time."""
    if server.ready:
        await api.set_state(backend, server.name, "drain")
    deadline = clock.monotonic() + timeout
    drained = True
    while True:
        left = await sessions(api, backend, server.name)
        if not left:
            break
        if clock.monotonic() >= deadline:
            drained = False
            break
        await clock.sleep(_POLL)
    await api.set_state(backend, server.name, "maint")
    if not drained:
        log.warning(
            "%s/%s: sessions still open after %.1fs of draining; shutting them down",
            backend,
            server.name,
            timeout,
        )
        await api.shutdown_sessions(backend, server.name)
    return drained


async def delete(
    api: RuntimeAPI, clock: Clock, backend: str, server: str, *, patience: float = _PATIENCE
) -> bool:
    """``del server`` (the server in maintenance) once no stream refers to it, tried for
    ``patience`` seconds while its last streams and connections end. True once it is
    gone; False if it is still in use (it stays in maintenance; a later reconcile
    deletes it)."""
    deadline = clock.monotonic() + patience
    delay = _POLL
    why = ""
    while True:
        using = await api.streams(backend, server)
        if using:
            why = f"{using} stream(s) still refer to it"
        else:
            try:
                await api.delete_server(backend, server)
            except HAProxyNotFound:
                return True
            except HAProxyError as exc:
                if "connection" not in exc.haproxy_text.lower():
                    raise
                why = exc.haproxy_text
            else:
                return True
        if clock.monotonic() >= deadline:
            log.info("%s/%s: %s; it stays in maintenance, deleted later", backend, server, why)
            return False
        await clock.sleep(delay)
        delay = min(delay * 2, 0.5)
