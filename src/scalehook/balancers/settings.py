"""How load balancers are declared in ``scalehook.yaml`` (``balancers:``)::

balancers:
  edge:
    haproxy: {socket: /run/haproxy/admin.sock}   # or tcp: 127.0.0.1:9999
    services:
      web: {backend: web_be}                     # the HAProxy backend carrying web
      api: {backend: api_be, address: "network:shop", port: 8080, check: true}
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from scalehook.domain.durations import Duration

BALANCER_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,62}$")
# HAProxy's own rule for proxy and server names (cfgparse.c invalid_char)
HAPROXY_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
ADDRESS_MODE = re.compile(r"^(replica|published|network:[A-Za-z0-9][A-Za-z0-9_.-]*)$")
_OPTION = re.compile(r"^[A-Za-z0-9_.:/@%=,+-]+$")
# Keywords scalehook itself sends after `add server`: never in `options`.
_OURS = {"disabled", "enabled", "addr", "port", "track"}


class HAProxySettings(BaseModel):
    """Where HAProxy's Runtime API listens: its stats socket, at level admin."""

    model_config = ConfigDict(extra="forbid")

    socket: str | None = Field(default=None, description="path of a Unix stats socket")
    tcp: str | None = Field(default=None, description="host:port of a TCP stats socket")
    timeout: Annotated[Duration, Field(gt=0)] = Field(
        default=5.0, description="a command must be answered within this"
    )

    @model_validator(mode="after")
    def _one(self) -> HAProxySettings:
        if (self.socket is None) == (self.tcp is None):
            raise ValueError("give the stats socket's path (socket) or its address (tcp), one")
        if self.tcp is not None:
            host, sep, port = self.tcp.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"tcp: write host:port, e.g. 127.0.0.1:9999, not {self.tcp!r}")
        return self

    @property
    def tcp_address(self) -> tuple[str, int] | None:
        if self.tcp is None:
            return None
        host, _, port = self.tcp.rpartition(":")
        return host.strip("[]"), int(port)

    @property
    def field(self) -> str:
        return "socket" if self.socket is not None else "tcp"


class MemberSettings(BaseModel):
    """How one service's replicas become servers of one HAProxy backend."""

    model_config = ConfigDict(extra="forbid")

    backend: str = Field(description="the HAProxy backend (it must use a dynamic algorithm)")
    address: str = Field(
        default="replica",
        description="replica: the address the backend reports (a local replica's, a "
        "container's first network's); published: the host port the engine publishes "
        "`port` on; network:<name>: the container's address on that network",
    )
    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="the port replicas serve on (default: the replica's own, a "
        "container's first exposed TCP port)",
    )
    host: str = Field(
        default="127.0.0.1",
        description="published: the address to reach a port published on all interfaces",
    )
    check: bool = Field(default=False, description="let HAProxy health-check each server (`check`)")
    options: str = Field(
        default="",
        description="more `add server` keywords, e.g. 'inter 1s weight 10 maxconn 50'",
    )
    drain: bool = Field(
        default=True,
        description="drain a replica in HAProxy before scalehook stops it (false: only "
        "remove it once it is gone)",
    )
    drain_timeout: Annotated[Duration, Field(gt=0)] | None = Field(
        default=None,
        description="longest wait for a server's connections to end; default: the "
        "replica's stop grace (when scalehook stops it), else 10s",
    )

    @field_validator("backend")
    @classmethod
    def _backend(cls, value: str) -> str:
        if not HAPROXY_NAME.match(value):
            raise ValueError(
                f"{value!r} is not an HAProxy backend name (letters, digits, '-', '_', '.', ':')"
            )
        return value

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        if not ADDRESS_MODE.match(value):
            raise ValueError("write replica, published or network:<name>")
        return value

    @field_validator("options")
    @classmethod
    def _options(cls, value: str) -> str:
        words = value.split()
        bad = [w for w in words if not _OPTION.match(w)]
        if bad:
            raise ValueError(f"{bad[0]!r} cannot be part of an `add server` line")
        ours = sorted(_OURS & set(words))
        if ours:
            raise ValueError(f"{ours[0]!r} is for scalehook to send, not an option")
        if "check" in words:
            raise ValueError("write check: true, not 'check' in options")
        return value

    @property
    def network(self) -> str | None:
        return (
            self.address.removeprefix("network:") if self.address.startswith("network:") else None
        )

    def keywords(self) -> list[str]:
        """What follows ``add server <be>/<srv> <addr>:<port>``."""
        return [*(["check"] if self.check else []), *self.options.split()]


class BalancerSettings(BaseModel):
    """One load balancer whose backends scalehook keeps in step with replicas."""

    model_config = ConfigDict(extra="forbid")

    haproxy: HAProxySettings
    services: dict[str, MemberSettings] = Field(
        description="by service ref (`web`, `docker/web`): the HAProxy backend carrying it"
    )
    interval: Annotated[Duration, Field(gt=0)] = Field(
        default=2.0, description="reconcile every this long (and at once on a replica's change)"
    )
    prefix: str = Field(
        default="shk-",
        description="scalehook's servers are named <prefix><replica>; others are left alone",
    )

    @field_validator("services")
    @classmethod
    def _services(cls, value: dict[str, MemberSettings]) -> dict[str, MemberSettings]:
        if not value:
            raise ValueError("name at least one service and its HAProxy backend")
        return value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value or not HAPROXY_NAME.match(value):
            raise ValueError("a prefix of letters, digits, '-', '_', '.' or ':'")
        return value


def check_names(balancers: dict[str, BalancerSettings]) -> None:
    """``ValueError`` for a balancer name that cannot label a metric or a log line."""
    for name in balancers:
        if not BALANCER_NAME.match(name):
            raise ValueError(
                f"balancer name {name!r}: start with a letter; use lower-case letters, "
                "digits, '-', '_' or '.'"
            )
