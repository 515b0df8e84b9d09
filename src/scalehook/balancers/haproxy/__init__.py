"""HAProxy's Runtime API (the stats socket at level admin): the client and its answers.

``client.py`` is the one place that talks to the socket and turns its failures into the
domain's errors; ``answers.py`` reads what the ``show`` commands print.
"""

from scalehook.balancers.haproxy.answers import ServerLoad, ServerState
from scalehook.balancers.haproxy.client import (
    HAProxyError,
    HAProxyNotFound,
    HAProxyUnavailable,
    HAProxyUnsupported,
    RuntimeAPI,
)

__all__ = [
    "HAProxyError",
    "HAProxyNotFound",
    "HAProxyUnavailable",
    "HAProxyUnsupported",
    "RuntimeAPI",
    "ServerLoad",
    "ServerState",
]
