"""The HTTP API: one router module per resource, errors mapped in ``errors``."""
