"""A policy body checked before it is stored: its shape (the rules' ``PolicySpec``),
then what only this scalehook knows: the service resolves and can be scaled (or, for a
host group, host scaling is configured), each
metric's source can read it (a PromQL query Prometheus rejects is refused; a
Prometheus that is down is a warning). Every refusal is a 422 naming the field as the
body spells it: ``service``, ``metrics[1].query``."""

from __future__ import annotations

from collections.abc import Mapping

from scalehook.backends import Backends
from scalehook.domain.selectors import Selector
from scalehook.errors import InvalidRequest, NotFound, NotScalable
from scalehook.hosts.manager import NOT_CONFIGURED, HostManager
from scalehook.policies.rules import PolicySpec, sources_of
from scalehook.policies.sources import GroupTarget, MetricSource, Scaled, Target


async def resolve_target(backends: Backends, service: str, *, field: str = "service") -> Target:
    """The backend and name of a policy's service, or ``InvalidRequest`` naming it."""
    try:
        backend, name = await backends.resolve(service)
    except NotFound as exc:
        raise InvalidRequest(f"{field}: {exc.message}", field=field) from exc
    except InvalidRequest as exc:  # ambiguous: several backends have it
        raise InvalidRequest(f"{field}: {exc.message}", field=field) from exc
    state = await backend.get_service(service=name)
    if not state.scalable:
        raise NotScalable(
            f"{field}: {state.ref} runs in {state.mode} mode and cannot be scaled", field=field
        )
    return Target(backend, name)


def group_of(spec: PolicySpec, hosts: HostManager | None) -> GroupTarget:
    """The host group of a policy on ``hosts``, or ``InvalidRequest`` when scalehook
    scales no hosts."""
    assert spec.hosts is not None
    if hosts is None:
        raise InvalidRequest(f"hosts: {NOT_CONFIGURED}", field="hosts")
    return GroupTarget(hosts, Selector.of(spec.hosts.selector))


async def check_policy(
    spec: PolicySpec,
    *,
    backends: Backends,
    sources: Mapping[str, MetricSource],
    hosts: HostManager | None,
) -> list[str]:
    """Refuse what can never run (``InvalidRequest`` naming the field); return warnings
    about what may pass later (a Prometheus that is down now)."""
    target: Scaled
    if spec.service is None:
        target = group_of(spec, hosts)
    else:
        target = await resolve_target(backends, spec.service)
    warnings: list[str] = []
    for index, metric in sources_of(spec):
        field = f"metrics[{index}]"
        source = sources.get(metric.source)
        if source is None:
            known = ", ".join(sorted(sources))
            raise InvalidRequest(
                f"{field}.source: {metric.source!r} is not a metric source (use {known})",
                field=f"{field}.source",
            )
        warnings += await source.check(metric, target, field=field)
    return warnings
