"""One check of one replica: a TCP connect or one HTTP request from scalehook to the
replica's address (``Replica.address``, the check's ``port`` in place of its own), or
the engine's own HEALTHCHECK verdict (``docker: true``).

A TCP check finds a replica that is gone, not one that hangs: the kernel completes the
connection for a stopped process. An HTTP check finds both. The timeout runs on the
runtime's clock, so a test on a manual clock decides when a hung replica times out.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
from collections.abc import Awaitable
from typing import TypeVar

from scalehook.backends import Replica
from scalehook.domain.durations import format_duration
from scalehook.domain.health import CheckResult
from scalehook.domain.healthchecks import HealthCheckSpec
from scalehook.loops.clock import Clock

T = TypeVar("T")
_STATUS_LINE_LIMIT = 1024
_STARTING = frozenset({"new", "pending", "assigned", "accepted", "preparing", "starting"})


async def check(replica: Replica, spec: HealthCheckSpec, clock: Clock) -> CheckResult:
    """Check ``replica`` once, as ``spec`` says."""
    at = clock.now()
    began = clock.monotonic()
    if spec.probe == "docker":
        ok, detail, code = engine_verdict(replica)
    else:
        ok, detail, code = await _probe(replica, spec, clock)
    return CheckResult(
        ok=ok,
        detail=detail,
        at=at,
        duration_ms=round((clock.monotonic() - began) * 1000, 3),
        code=code,
    )


def engine_verdict(replica: Replica) -> tuple[bool | None, str, str]:
    """What the engine says of the container's own HEALTHCHECK. Where it says nothing
    (a Swarm task: Swarm counts a task ``running`` once its check passes, and replaces
    one that fails it), the task's state."""
    output = f" ({replica.health_output})" if replica.health_output else ""
    if replica.health == "healthy":
        return True, f"the container's HEALTHCHECK passes{output}", ""
    if replica.health == "unhealthy":
        return False, f"the container's HEALTHCHECK fails{output}", "engine"
    if replica.health == "starting" or replica.state in _STARTING:
        return None, f"the container's HEALTHCHECK has not decided yet{output}", ""
    if replica.ready:
        return True, f"{replica.state}", ""
    return False, f"not running ({replica.state})", "engine"


def target(replica: Replica, spec: HealthCheckSpec) -> tuple[str, int] | str:
    """The host and port to probe, or why there are none."""
    if not replica.address:
        return f"no address yet ({replica.state})"
    host, port = split_address(replica.address)
    port = spec.port or port
    if port is None:
        return f"the replica's address {replica.address} has no port: set port in the check"
    return host, port


def split_address(address: str) -> tuple[str, int | None]:
    """``10.0.0.5:8080`` → (``10.0.0.5``, 8080); ``[::1]:80``; a bare host has no port."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port = rest.removeprefix(":")
        return host, int(port) if port.isdigit() else None
    host, sep, port = address.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host, int(port)
    return address, None


async def _probe(
    replica: Replica, spec: HealthCheckSpec, clock: Clock
) -> tuple[bool | None, str, str]:
    where = target(replica, spec)
    if isinstance(where, str):
        return None, where, ""
    host, port = where
    phase = ["connecting"]
    try:
        return await within(clock, spec.timeout, _exchange(host, port, spec, phase))
    except TimeoutError:
        waiting = "to connect" if phase[0] == "connecting" else "for an answer"
        return False, f"timeout after {format_duration(spec.timeout)} waiting {waiting}", "timeout"
    except ConnectionRefusedError:
        return False, "connection refused", "refused"
    except ConnectionError as exc:
        return False, f"connection lost: {exc.strerror or type(exc).__name__}", "closed"
    except OSError as exc:
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return False, f"cannot reach {host}: {exc.strerror}", "unreachable"
        return False, f"cannot connect: {exc.strerror or exc}", "error"


async def _exchange(
    host: str, port: int, spec: HealthCheckSpec, phase: list[str]
) -> tuple[bool | None, str, str]:
    reader, writer = await asyncio.open_connection(host, port, limit=_STATUS_LINE_LIMIT * 4)
    phase[0] = "answering"
    try:
        if spec.http is None:
            return True, f"connected to port {port}", ""
        method, path, *version = spec.http.split()
        line = f"{method} {path} {version[0] if version else 'HTTP/1.0'}"
        writer.write(
            f"{line}\r\nHost: {host}:{port}\r\nUser-Agent: scalehook-health\r\n"
            "Connection: close\r\n\r\n".encode("latin-1")
        )
        await writer.drain()
        try:
            status = await reader.readline()
        except ValueError:
            return False, "answered a status line too long to be HTTP", "status"
        return _verdict(status)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def _verdict(status: bytes) -> tuple[bool, str, str]:
    if not status:
        return False, "closed the connection without an answer", "closed"
    parts = status.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        shown = status[:40].decode("latin-1", "replace").strip()
        return False, f"answered something other than HTTP ({shown!r})", "status"
    code = parts[1].decode()
    if code[:1] in ("2", "3"):
        return True, f"HTTP {code}", ""
    return False, f"HTTP {code}", "status"


async def within(clock: Clock, seconds: float, work: Awaitable[T]) -> T:
    """``work``'s result, or ``TimeoutError`` once ``seconds`` pass on ``clock`` (the
    work is cancelled then)."""
    job = asyncio.ensure_future(work)
    timer = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait({job, timer}, return_when=asyncio.FIRST_COMPLETED)
        if job.done():
            return job.result()
        raise TimeoutError
    finally:
        for task in (job, timer):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
