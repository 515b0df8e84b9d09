"""scalehook: elastic scaling, healing and upgrades driven by webhooks and policies."""

__version__ = "0.1.0"
