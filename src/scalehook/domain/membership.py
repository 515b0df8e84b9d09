"""Which servers to add to, re-point in, re-enable in or remove from a load balancer's
backend, given the servers scalehook wants there and the ones it has (pure).

scalehook owns only the servers whose names start with its prefix (``shk-``): others
are never touched. Among its own:

- wanted and missing → add;
- wanted at another address (a local replica restarted on a new port) → move;
- wanted but in maintenance or draining → re-enable. At the same address, only once
  that state is older than ``hold``: a recent drain or maintenance of the very replica
  is a stop in progress (maybe by another scalehook instance), and a drain cut short by
  a crash heals after ``hold``. At another address it is a new replica under an old
  name (moved, then enabled at once);
- not wanted → remove (drained first unless already in maintenance).

Servers with a removal under way here (``busy``) are left to it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Wanted:
    """A server scalehook wants in the backend: one ready (and healthy) replica."""

    name: str
    host: str
    port: int
    service: str  # the service ref it belongs to (for counts and logs)
    replica: str
    keywords: tuple[str, ...] = ()  # what follows `add server <be>/<name> <addr>:<port>`
    check: bool = False

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Present:
    """A server the backend has."""

    name: str
    host: str
    port: int
    ready: bool  # administratively: neither in maintenance nor draining
    maint: bool
    since_change: float  # seconds since its state last changed


@dataclass(frozen=True, slots=True)
class Plan:
    add: tuple[Wanted, ...] = ()
    move: tuple[Wanted, ...] = ()
    enable: tuple[Wanted, ...] = ()
    remove: tuple[Present, ...] = ()
    held: tuple[str, ...] = ()  # wanted, but recently put in drain or maintenance

    @property
    def empty(self) -> bool:
        return not (self.add or self.move or self.enable or self.remove)


def server_name(prefix: str, replica: str) -> str:
    """The server name of a replica: the prefix, then its id with any character HAProxy
    does not allow in a name replaced by ``_``."""
    allowed = "".join(c if c.isascii() and (c.isalnum() or c in "-_.:") else "_" for c in replica)
    return f"{prefix}{allowed}"[:64]


def plan(
    wanted: Mapping[str, Wanted],
    present: Iterable[Present],
    *,
    prefix: str,
    busy: Collection[str] = (),
    hold: float = 60.0,
) -> Plan:
    add, move, enable, remove, held = [], [], [], [], []
    seen = set()
    for server in present:
        if not server.name.startswith(prefix):
            continue
        seen.add(server.name)
        if server.name in busy:
            continue
        want = wanted.get(server.name)
        if want is None:
            remove.append(server)
            continue
        elsewhere = (server.host, server.port) != (want.host, want.port)
        if not server.ready:
            if not elsewhere and server.since_change < hold:
                held.append(server.name)
                continue
            enable.append(want)
            if elsewhere:
                move.append(want)
        elif elsewhere:
            move.append(want)
    add = [want for name, want in sorted(wanted.items()) if name not in seen]
    return Plan(
        add=tuple(add),
        move=tuple(move),
        enable=tuple(enable),
        remove=tuple(remove),
        held=tuple(held),
    )
