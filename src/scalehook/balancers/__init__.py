"""Load balancers whose membership scalehook keeps in step with replicas (HAProxy).

- ``settings.py``: the ``balancers:`` section of ``scalehook.yaml``.
- ``haproxy/``: HAProxy's Runtime API: the client (the one boundary where its failures
  become the domain's errors) and what its ``show`` commands print.
- ``membership.py``: one balancer: which replicas belong in which HAProxy backend, the
  sync that makes it so, and the drain before scalehook stops a replica.
- ``servers.py``: each change (add, move, enable, drain, delete) as the Runtime API wants it.
- ``stats.py``: per-replica traffic (in flight, total, rate) for the policies.
- ``registry.py``: every balancer of the config; ``loop.py``: the leader-only loop that
  reconciles them every few seconds, and at once when a backend reports a change.

The pure rule (which server to add, move, enable or remove) is ``domain/membership.py``.
This package imports nothing at its top, so ``config.py`` may read ``settings.py``.
"""
