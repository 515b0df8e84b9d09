"""``netns`` hosts: Docker engines in network namespaces on this machine.

``network.py`` (bridge, namespaces, veth pairs, the NAT for a manager on 127.0.0.1),
``dockerd.py`` (one host's engine: start, stop, the state file), ``provider.py`` (the
``HostProvider``: create, list, destroy).
"""

from scalehook.hosts.providers.netns.provider import NetnsProvider, NetnsSettings

__all__ = ["NetnsProvider", "NetnsSettings"]
