"""The ``swarm`` backend: ``backend.py`` reads and scales services; ``update.py`` is how a
rolling upgrade becomes one Swarm service update, and how its progress is read."""

from scalehook.backends.swarm.backend import SwarmBackend, SwarmSettings

__all__ = ["SwarmBackend", "SwarmSettings"]
