"""A new replica's creation request, made from the newest replica's inspect record.

The clone gets what makes the service what it is (image, command, environment, labels,
networks and aliases, healthcheck, resource limits, restart policy, mounts) and none of
what belongs to one container (id, hostname, fixed addresses, MAC). Published ports
keep their container port and host address, but a fixed host port, which the original
already holds, becomes an ephemeral one: clones never collide on a port. A replacement
made by a stop-first rollout keeps the ports as they are: the old container has let go
of them before the new one starts.

A container's record mixes what was asked at ``docker run`` with what its image gave
(``ENV``, ``CMD``, ``HEALTHCHECK``, ``LABEL``...). A replica of *another* image is made
without what the old image gave, so the new image's own defaults apply: otherwise
version 2 would run with version 1's environment and health check.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field

from scalehook.backends.docker.groups import REPLACES_LABEL
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
_IMAGE_SCALARS = (
    "Cmd",
    "Entrypoint",
    "Healthcheck",
    "WorkingDir",
    "User",
    "StopSignal",
    "Shell",
    "ArgsEscaped",
)
_IMAGE_SETS = ("ExposedPorts", "Volumes")


@dataclass(frozen=True, slots=True)
class ReplicaPlan:
    """What to send: the create request, then networks to connect before starting
    (engines before API 1.44 take a single network at create)."""

    name: str
    body: JSON
    more_networks: dict[str, JSON] = field(default_factory=dict)


def plan_replica(
    inspect: JSON,
    *,
    name: str,
    image: str,
    number_label: str,
    number: int,
    labels: Mapping[str, str] | None = None,
    keep_ports: bool = False,
    old_image: JSON | None = None,
) -> ReplicaPlan:
    """The replica ``name`` (numbered ``number``), cloned from ``inspect``, with ``labels``
    added (a clone never inherits what the original replaced). ``old_image``: the
    original's image config, when the replica runs another image."""
    config = inspect.get("Config") or {}
    if old_image is not None:
        config = without_image_defaults(config, old_image)
    body: JSON = {key: copy.deepcopy(config[key]) for key in _CONFIG_KEYS if key in config}
    hostname = config.get("Hostname") or ""
    if hostname and hostname != inspect["Id"][:12]:
        body["Hostname"] = hostname  # set on purpose by whoever made the original
    body["Image"] = image
    own = {k: v for k, v in (config.get("Labels") or {}).items() if k != REPLACES_LABEL}
    own[number_label] = str(number)
    own.update(labels or {})
    body["Labels"] = own
    host = copy.deepcopy(inspect.get("HostConfig") or {})
    if not keep_ports:
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


def without_image_defaults(config: JSON, image: JSON) -> JSON:
    """A container's config less what its image (``image``: the image's ``Config``) gave."""
    result = dict(config)
    for key in _IMAGE_SCALARS:
        if key in result and result[key] == image.get(key):
            del result[key]
    inherited = set(image.get("Env") or [])
    result["Env"] = [e for e in config.get("Env") or [] if e not in inherited]
    for key in _IMAGE_SETS:
        if key in result:
            result[key] = {
                k: v for k, v in (config[key] or {}).items() if k not in (image.get(key) or {})
            } or None
    image_labels = image.get("Labels") or {}
    result["Labels"] = {
        k: v for k, v in (config.get("Labels") or {}).items() if image_labels.get(k) != v
    }
    return result


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


def fixed_ports(bindings: JSON) -> list[str]:
    """The fixed host ports of some port bindings (``127.0.0.1:8080->8080/tcp``): what a
    second container of the same service cannot bind while the first runs."""
    fixed = []
    for port, entries in (bindings or {}).items():
        for entry in entries or []:
            host_port = entry.get("HostPort") or ""
            if _ephemeral(host_port) != host_port:
                fixed.append(f"{entry.get('HostIp') or '*'}:{host_port}->{port}")
    return fixed


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
