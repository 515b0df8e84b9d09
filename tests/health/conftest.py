"""The Docker fixtures (the engine, a prefix per test, the busybox app images)."""

from tests.docker.conftest import apps, engine, overlay, prefix, session_prefix

__all__ = ["apps", "engine", "overlay", "prefix", "session_prefix"]
