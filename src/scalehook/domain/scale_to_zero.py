"""Scale to zero, measured from the last connection (pure).

A policy that reads its service's load balancer may take the service to zero replicas
only once no connection has arrived for its down stabilization window: idle is counted
from the last connection, not from the last scale, so a service that just served a
request (or was just woken by one) is not stopped under it. A service that never had a
connection counts as idle since the policy first saw it.
"""

from __future__ import annotations

from datetime import datetime


def idle_floor(
    *,
    desired: int,
    current: int,
    last_connection: datetime | None,
    idle_since: datetime,
    stabilization: float,
    now: datetime,
) -> tuple[int, str | None]:
    """The count to ask for instead of ``desired`` (and why), or ``desired`` unchanged.

    Only a move to zero from a running service is ever held (at one replica)."""
    if desired > 0 or current == 0:
        return desired, None
    since = idle_since if last_connection is None else last_connection
    idle = max(0.0, (now - since).total_seconds())
    if idle >= stabilization:
        return 0, None
    if last_connection is None:
        what = "no connection since the policy began"
    else:
        what = "the last connection"
    return 1, (
        f"idle: {idle:.0f}s since {what}; scales to zero after {stabilization:g}s "
        "without a connection (the down stabilization)"
    )
