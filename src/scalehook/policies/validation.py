"""A policy body checked before it is stored: its shape (the rules' ``PolicySpec``),
then what only this scalehook knows: the service resolves and can be scaled, each
metric's source can read it (a PromQL query Prometheus rejects is refused; a
Prometheus that is down is a warning). Every refusal is a 422 naming the field as the
body spells it: ``service``, ``metrics[1].query``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from scalehook.backends import Backends
from scalehook.errors import InvalidRequest, NotFound, NotScalable
from scalehook.policies.rules import PolicySpec, sources_of
from scalehook.policies.sources import MetricSource, Target

METRIC_TYPES = frozenset({"target", "threshold", "schedule"})
"""The tags of the metric union: pydantic puts them in an error's location."""


def field_of(loc: tuple[int | str, ...]) -> str:
    """``("metrics", 1, "target", "query")`` → ``metrics[1].query``."""
    text = ""
    after_index = False
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
            after_index = True
            continue
        if after_index and part in METRIC_TYPES:
            after_index = False
            continue  # the union's tag, not a field
        after_index = False
        text += f".{part}" if text else part
    return text


def parse_spec(body: Mapping[str, Any], *, prefix: str = "") -> PolicySpec:
    """The body as a ``PolicySpec``, or ``InvalidRequest`` naming the first field at
    fault (``prefix`` goes before it: ``policy.`` in a simulation)."""
    try:
        return PolicySpec.model_validate(dict(body))
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        field = (prefix + field_of(tuple(first.get("loc", ())))).rstrip(".") or None
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        if first.get("type") == "missing":
            message = "is required"
        text = f"{field}: {message}" if field else message
        if len(errors) > 1:
            text += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        raise InvalidRequest(text, field=field) from exc


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


async def check_policy(
    spec: PolicySpec, *, backends: Backends, sources: Mapping[str, MetricSource]
) -> list[str]:
    """Refuse what can never run (``InvalidRequest`` naming the field); return warnings
    about what may pass later (a Prometheus that is down now)."""
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
