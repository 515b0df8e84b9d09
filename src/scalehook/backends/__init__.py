"""Engines that run services. Each engine is one module; ``registry`` resolves refs."""

from scalehook.backends.base import Backend, Replica, ReplicaSample, ServiceState
from scalehook.backends.registry import Backends

__all__ = ["Backend", "Backends", "Replica", "ReplicaSample", "ServiceState"]
