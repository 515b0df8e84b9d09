"""What HAProxy's ``show`` commands print, read into values (HAProxy 2.6's formats).

- ``show servers state <backend>``: a version line (``1``), a ``#`` header naming the
  fields, then one space-separated line per server. Read by the header's names.
- ``show stat <backend> 4 -1``: CSV whose first line is ``# pxname,svname,...``; read by
  the header's names too (the management guide says not to rely on positions).
- ``show servers conn <backend>``: a ``#`` header, then one line per server with its
  connections in use and idle (``bkname/svname bkid/svid addr port - purge_delay
  used_cur used_max need_est unsafe_nb safe_nb idle_lim idle_cur idle_per_thr[N]``).

- ``show sess``: one line per stream, ``0x...: proto=... fe=<frontend> be=<backend>
  srv=<server> ...``; read for the streams that still refer to a server.

A line that does not fit its header raises ``ValueError``; the client turns that into
a ``BackendError`` saying which command printed it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

# srv_admin_state bits (HAProxy's SRV_ADMF_*)
FORCED_MAINT = 0x01
INHERITED_MAINT = 0x02
CONFIG_MAINT = 0x04
FORCED_DRAIN = 0x08
INHERITED_DRAIN = 0x10
RESOLUTION_MAINT = 0x20
HOSTNAME_MAINT = 0x40
_MAINT = FORCED_MAINT | INHERITED_MAINT | CONFIG_MAINT | RESOLUTION_MAINT | HOSTNAME_MAINT
_DRAIN = FORCED_DRAIN | INHERITED_DRAIN

# srv_op_state values
STOPPED, STARTING, RUNNING, STOPPING = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class ServerState:
    """One server of a backend as ``show servers state`` prints it."""

    backend: str
    name: str
    address: str
    port: int
    op_state: int  # 0 stopped, 1 starting, 2 running, 3 stopping
    admin_state: int  # the SRV_ADMF_* bits
    since_change: int  # seconds since its state last changed

    @property
    def maint(self) -> bool:
        """In maintenance (forced by a command, or inherited, or from the config)."""
        return bool(self.admin_state & _MAINT)

    @property
    def draining(self) -> bool:
        return bool(self.admin_state & _DRAIN) and not self.maint

    @property
    def ready(self) -> bool:
        """Administratively ready: neither in maintenance nor draining."""
        return not self.admin_state & (_MAINT | _DRAIN)

    @property
    def endpoint(self) -> str:
        return f"{self.address}:{self.port}"


@dataclass(frozen=True, slots=True)
class ServerLoad:
    """One server's traffic as ``show stat`` prints it."""

    backend: str
    name: str
    in_flight: int  # scur: sessions open on it now
    queued: int  # qcur: requests waiting for it
    total: int  # stot: sessions since HAProxy started (or the server was added)
    status: str  # UP, DOWN, DRAIN, MAINT, no check, ...


@dataclass(frozen=True, slots=True)
class ServerConnections:
    """One server's connections as ``show servers conn`` prints them."""

    backend: str
    name: str
    used: int  # used_cur: connections carrying a stream now
    idle: int  # idle_cur: connections kept for reuse


def _header(line: str, command: str) -> list[str]:
    if not line.startswith("#"):
        raise ValueError(f"{command}: expected a '#' header line, got {line[:80]!r}")
    return line.lstrip("#").split()


def servers_state(text: str) -> list[ServerState]:
    """The servers of ``show servers state``; empty for a backend without servers."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    if lines[0].strip() != "1":
        raise ValueError(f"show servers state: unknown format version {lines[0][:20]!r}")
    if len(lines) == 1:
        return []
    names = _header(lines[1], "show servers state")
    servers = []
    for line in lines[2:]:
        values = line.split()
        if len(values) != len(names):
            raise ValueError(
                f"show servers state: {len(values)} fields where the header names {len(names)}"
            )
        row = dict(zip(names, values, strict=True))
        servers.append(
            ServerState(
                backend=row["be_name"],
                name=row["srv_name"],
                address=row["srv_addr"],
                port=int(row["srv_port"]),
                op_state=int(row["srv_op_state"]),
                admin_state=int(row["srv_admin_state"]),
                since_change=int(row["srv_time_since_last_change"]),
            )
        )
    return servers


def _count(value: str) -> int:
    return int(value) if value else 0


def stat(text: str) -> list[ServerLoad]:
    """The server rows of ``show stat`` (the FRONTEND and BACKEND rows left out)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    if not lines[0].startswith("# "):
        raise ValueError(f"show stat: expected the '# pxname,...' header, got {lines[0][:80]!r}")
    rows = csv.DictReader(io.StringIO("\n".join([lines[0][2:], *lines[1:]])))
    loads = []
    for row in rows:
        if row.get("svname") in ("FRONTEND", "BACKEND") or row.get("type") not in ("2", None):
            continue
        if row.get("pxname") is None or row.get("svname") is None:
            raise ValueError("show stat: a row without pxname or svname")
        loads.append(
            ServerLoad(
                backend=row["pxname"],
                name=row["svname"],
                in_flight=_count(row.get("scur") or ""),
                queued=_count(row.get("qcur") or ""),
                total=_count(row.get("stot") or ""),
                status=row.get("status") or "",
            )
        )
    return loads


def servers_conn(text: str) -> list[ServerConnections]:
    """The servers of ``show servers conn``."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    names = _header(lines[0], "show servers conn")
    found = []
    for line in lines[1:]:
        values = line.split()
        if len(values) < len(names) - 1:  # idle_per_thr[N] spans N values
            raise ValueError(f"show servers conn: too few fields in {line[:80]!r}")
        row = dict(zip(names, values, strict=False))
        backend, _, name = row["bkname/svname"].partition("/")
        found.append(
            ServerConnections(
                backend=backend,
                name=name,
                used=int(row["used_cur"]),
                idle=int(row["idle_cur"]),
            )
        )
    return found


def streams(text: str) -> list[tuple[str, str]]:
    """(backend, server) of every stream ``show sess`` lists; streams not yet on a
    backend or server have ``<NONE>`` / ``<none>`` there."""
    found = []
    for line in text.splitlines():
        if not line.startswith("0x"):
            continue
        fields = dict(
            part.split("=", 1) for part in line.split() if "=" in part and "[" not in part
        )
        found.append((fields.get("be", ""), fields.get("srv", "")))
    return found
