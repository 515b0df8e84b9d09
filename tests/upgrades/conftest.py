"""The Docker engine fixtures, for the tests here that run on plain Docker too."""

from tests.docker.conftest import apps, engine, session_prefix

__all__ = ["apps", "engine", "session_prefix"]
