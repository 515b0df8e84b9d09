"""The ``docker`` backend: ``backend.py`` scales; ``groups.py`` says which containers make
a service; ``clone.py`` makes a new replica's request from the newest one."""

from scalehook.backends.docker.backend import DockerBackend, DockerSettings

__all__ = ["DockerBackend", "DockerSettings"]
