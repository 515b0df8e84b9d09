"""Autoscaling policies: scalehook watches metrics and scales on its own.

- ``rules.py``: the one import of the pure rules (``domain/policies``: the spec,
  ``evaluate``, ``simulate``).
- ``sources/``: where metrics come from (``engine``, ``prometheus``, ``balancer``),
  one module each behind ``MetricSource``.
- ``validation.py``: a body checked before it is stored (422s naming the field).
- ``loop.py``: the leader's loop that evaluates every policy on time and acts through
  the executor; ``state.py`` what it keeps of each policy in memory.
"""
