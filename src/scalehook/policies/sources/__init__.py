"""Where policies' metrics come from: one module per ``source`` (``engine``,
``prometheus``, ``balancer``, ``capacity``), each a ``MetricSource`` (``base.py``). A new source is
one module and one line in ``build_sources``."""

from __future__ import annotations

from scalehook.config import PrometheusSettings
from scalehook.loops.clock import Clock
from scalehook.policies.sources.balancer import BalancerSource, LoadRead
from scalehook.policies.sources.base import (
    GroupTarget,
    MetricSource,
    Scaled,
    SourcedMetric,
    SourceError,
    Target,
    hosts_key,
)
from scalehook.policies.sources.capacity import CapacitySource
from scalehook.policies.sources.engine import EngineSource
from scalehook.policies.sources.prometheus import PrometheusSource

__all__ = [
    "GroupTarget",
    "MetricSource",
    "Scaled",
    "SourceError",
    "SourcedMetric",
    "Target",
    "build_sources",
    "hosts_key",
]


def build_sources(
    *, clock: Clock, prometheus: PrometheusSettings | None, balancer_load: LoadRead | None = None
) -> dict[str, MetricSource]:
    """Every metric source, by the name a metric's ``source`` gives; ``balancer_load``
    (``Balancers.replica_load``) reads HAProxy for the services a balancer carries."""
    sources: list[MetricSource] = [
        EngineSource(),
        PrometheusSource(prometheus),
        BalancerSource(clock, balancer_load),
        CapacitySource(),
    ]
    return {source.name: source for source in sources}
