"""Where policies' metrics come from: one module per ``source`` (``engine``,
``prometheus``, ``balancer``), each a ``MetricSource`` (``base.py``). A new source is
one module and one line in ``build_sources``."""

from __future__ import annotations

from scalehook.config import PrometheusSettings
from scalehook.loops.clock import Clock
from scalehook.policies.sources.balancer import BalancerSource
from scalehook.policies.sources.base import MetricSource, SourcedMetric, SourceError, Target
from scalehook.policies.sources.engine import EngineSource
from scalehook.policies.sources.prometheus import PrometheusSource

__all__ = ["MetricSource", "SourceError", "SourcedMetric", "Target", "build_sources"]


def build_sources(
    *, clock: Clock, prometheus: PrometheusSettings | None
) -> dict[str, MetricSource]:
    """Every metric source, by the name a metric's ``source`` gives."""
    sources: list[MetricSource] = [
        EngineSource(),
        PrometheusSource(prometheus),
        BalancerSource(clock),
    ]
    return {source.name: source for source in sources}
