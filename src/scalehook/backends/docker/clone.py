"""A new replica's creation request, made from the newest replica's inspect record.

The clone gets what makes the service what it is (image, command, environment, labels,
networks and aliases, healthcheck, resource limits, restart policy, mounts) and none of
what belongs to one container (id, hostname, fixed addresses, MAC). Published ports
keep their container port and host address, but a fixed host port, which the original
already holds, becomes an ephemeral one: clones never collide on a port.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from scalehook.backends.engine import JSON

_CONFIG_KEYS = (
    "Domainname",
    "User",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "ExposedPorts",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Env",
    "Cmd",
    "Healthcheck",
    "ArgsEscaped",
    "Volumes",
    "WorkingDir",
    "Entrypoint",
    "NetworkDisabled",
    "StopSignal",
    "StopTimeout",
    "Shell",
)
_NO_ENDPOINTS = ("host", "none")


@dataclass(frozen=True, slots=True)
class ReplicaPlan:
    """What to send: the create request, then networks to connect before starting
    (engines before API 1.44 take a single network at create)."""

    name: str
    body: JSON
    more_networks: dict[str, JSON] = field(default_factory=dict)


def plan_replica(
    inspect: JSON, *, name: str, image: str, number_label: str, number: int
) -> ReplicaPlan:
    """The replica ``name`` (numbered ``number``), cloned from ``inspect``."""
    config = inspect.get("Config") or {}
    body: JSON = {key: copy.deepcopy(config[key]) for key in _CONFIG_KEYS if key in config}
    hostname = config.get("Hostname") or ""
    if hostname and hostname != inspect["Id"][:12]:
        body["Hostname"] = hostname  # set on purpose by whoever made the original
    body["Image"] = image
    labels = dict(config.get("Labels") or {})
    labels[number_label] = str(number)
    body["Labels"] = labels
    host = copy.deepcopy(inspect.get("HostConfig") or {})
    host["PortBindings"] = free_ports(host.get("PortBindings") or {})
    host["Links"] = _links(host.get("Links")) or None
    body["HostConfig"] = host

    old_name = (inspect.get("Name") or "").lstrip("/")
    networks = (inspect.get("NetworkSettings") or {}).get("Networks") or {}
    endpoints = {
        net: endpoint(ep, old_id=inspect["Id"], old_name=old_name, new_name=name)
        for net, ep in networks.items()
    }
    mode = host.get("NetworkMode") or "default"
    if mode in _NO_ENDPOINTS or mode.startswith("container:"):
        return ReplicaPlan(name=name, body=body)
    primary = _primary(mode, networks)
    if primary is not None:
        body["NetworkingConfig"] = {"EndpointsConfig": {primary: endpoints.pop(primary)}}
    return ReplicaPlan(name=name, body=body, more_networks=endpoints)


def free_ports(bindings: JSON) -> JSON:
    """Port bindings with every fixed host port made ephemeral (ranges stay)."""
    result: JSON = {}
    for port, entries in bindings.items():
        result[port] = [
            {**entry, "HostPort": _ephemeral(entry.get("HostPort") or "")}
            for entry in entries or []
        ]
    return result


def _ephemeral(host_port: str) -> str:
    return host_port if host_port in ("", "0") or "-" in host_port else ""


def endpoint(ep: JSON, *, old_id: str, old_name: str, new_name: str) -> JSON:
    """A network endpoint's settings without what belongs to the original container."""
    aliases = []
    for alias in ep.get("Aliases") or []:
        if alias in (old_id, old_id[:12]):
            continue
        aliases.append(new_name if alias == old_name else alias)
    result: JSON = {}
    if aliases:
        result["Aliases"] = aliases
    if ep.get("Links"):
        result["Links"] = list(ep["Links"])
    if ep.get("DriverOpts"):
        result["DriverOpts"] = dict(ep["DriverOpts"])
    link_local = (ep.get("IPAMConfig") or {}).get("LinkLocalIPs")
    if link_local:
        result["IPAMConfig"] = {"LinkLocalIPs": list(link_local)}
    return result


def _primary(mode: str, networks: JSON) -> str | None:
    """The network named by ``NetworkMode`` (a name, an id, or ``default``)."""
    if mode == "default":
        return "bridge" if "bridge" in networks else None
    if mode in networks:
        return mode
    for net, ep in networks.items():
        if (ep.get("NetworkID") or "").startswith(mode):
            return str(net)
    return None


def _links(links: list[str] | None) -> list[str]:
    """Inspect shows legacy links as ``/db:/web-1/db``; create wants ``db:db``."""
    result = []
    for link in links or []:
        target, _, alias = link.partition(":")
        result.append(f"{target.lstrip('/')}:{alias.rsplit('/', 1)[-1] or target.lstrip('/')}")
    return result
