"""The ``swarm`` backend: ``backend.py`` reads and scales services; ``update.py`` is how a
rolling upgrade becomes one Swarm service update, and how its progress is read.
For the host manager: ``nodes.py`` (the Swarm's nodes) and ``engines.py`` (a node's
own engine)."""

from scalehook.backends.swarm.backend import SwarmBackend, SwarmSettings

__all__ = ["SwarmBackend", "SwarmSettings"]
