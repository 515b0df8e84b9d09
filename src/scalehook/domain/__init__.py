"""The domain's pure rules and records: no I/O, no engine, no store, no clock of their own.

Everything here is a function of its arguments (time comes in as ``now``), so the rules
can be pinned down with property tests; the executor, the loops and the API do the I/O
around them. An import-linter contract (``pyproject.toml``) keeps it so.

- records: ``receivers`` (trigger keys, hashed), ``executions`` (the audit trail),
  ``signals`` (what a webhook said, normalised), ``incidents`` (alert memory)
- rules: ``decisions`` (a clamped step, cooldowns), ``alerting`` (a notification to one
  decision), ``upgrades`` (which services a push upgrades), ``tag_policies`` and
  ``images`` (may a pushed tag replace the running one), ``selectors``, ``durations``,
  ``signatures`` (a receiver's secret, proven), ``hosts`` and ``host_plans`` (a host
  group, which host to clone, which to remove), ``policies`` (autoscaling policies: a
  policy's spec, and one evaluation of it from readings and history)
"""
