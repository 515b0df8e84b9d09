"""Health checks that heal: probes, replica states, strategies, the health loop.

- ``checks.py``: ``Health`` (``runtime.health``): the checks in force (the store's over
  the file's), their validation against the service, and ``states(service)`` for the
  balancers.
- ``loop.py``: the leader-only loop that keeps one watch per checked service.
- ``watch.py``: one service: check every replica every ``interval``, move its state,
  route the local balancer, apply the strategy through the executor.
- ``probes.py``: one check: TCP, HTTP, or the engine's HEALTHCHECK verdict.

The rules (states, strategies, storm limits) are pure, in ``domain/health.py`` and
``domain/recovery.py``; the check's fields in ``domain/healthchecks.py``.
"""

from scalehook.health.checks import CheckView, Health
from scalehook.health.loop import HealthLoop

__all__ = ["CheckView", "Health", "HealthLoop"]
