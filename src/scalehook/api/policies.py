"""/v1/policies: autoscaling policies, their last evaluations, and simulating one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Response

from scalehook.answers import AUTH, BODY, ENGINE, errors
from scalehook.api.deps import RuntimeDep, require_admin
from scalehook.api.schemas import PolicyOut, SimulationIn, SimulationOut, execution_dict
from scalehook.domain.policy_records import PolicyId, PolicyRecord
from scalehook.domain.receivers import parse_id
from scalehook.errors import InvalidRequest
from scalehook.policies.rules import PolicySpec, parse_spec, simulate
from scalehook.policies.state import evaluation_json
from scalehook.policies.validation import check_policy
from scalehook.runtime import Runtime

router = APIRouter(
    prefix="/v1/policies",
    tags=["policies"],
    dependencies=[Depends(require_admin)],
    responses=errors(*AUTH),
)
TAKEN = {
    409: "the name is taken (conflict), or the engine as configured cannot serve the "
    "service (backend_unsupported)",
    422: "a field that will never work as sent; `field` names it (an unknown service or "
    "metric, min > max, a duration or cron that does not parse, a target <= 0, a query "
    "Prometheus rejects: metrics[1].query)",
}

PolicyBody = Annotated[
    dict[str, Any],
    Body(
        description="a policy: name, service (or hosts: a host group), min, max, interval, "
        "metrics, behavior, "
        "tolerance, cpu_initialization, on_error, dry_run, paused (see the README)"
    ),
]


async def find(runtime: Runtime, ident: str) -> PolicyRecord:
    """A policy by id (digits) or by name."""
    policy_id = parse_id(ident)
    if policy_id is not None:
        return await runtime.store.policies.get(PolicyId(policy_id))
    return await runtime.store.policies.by_name(ident)


def shown(
    record: PolicyRecord,
    spec: PolicySpec,
    *,
    warnings: list[str] | None = None,
    evaluations: list[dict[str, Any]] | None = None,
    last_scaling: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A policy as the API shows it: each field as it was given (so a file applied
    again compares equal), or its default; ``effective`` is what the loop evaluates."""
    effective = spec.as_json()
    fields = {key: record.body.get(key, value) for key, value in effective.items()}
    return {
        **fields,
        "id": record.id,
        "target": spec.target,
        "effective": effective,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "warnings": warnings or [],
        "evaluations": evaluations,
        "last_scaling": last_scaling,
    }


@router.post(
    "",
    status_code=201,
    response_model=PolicyOut,
    operation_id="createPolicy",
    responses=errors(*BODY, *ENGINE, said=TAKEN),
)
async def create_policy(body: PolicyBody, runtime: RuntimeDep) -> dict[str, Any]:
    """Create a policy. A field that can never work is refused (422 naming it, e.g.
    ``metrics[1].query`` for a query Prometheus rejects); what may pass later (a
    Prometheus that is down) is a warning in the answer."""
    spec = parse_spec(body)
    warnings = await check_policy(
        spec, backends=runtime.backends, sources=runtime.policy_sources, hosts=runtime.hosts
    )
    record = await runtime.store.policies.add(name=spec.name, service=spec.target, body=body)
    runtime.policies.changed()
    return shown(record, spec, warnings=warnings)


@router.get("", response_model=list[PolicyOut], operation_id="listPolicies")
async def list_policies(runtime: RuntimeDep) -> list[dict[str, Any]]:
    found = []
    for record in await runtime.store.policies.all():
        found.append(shown(record, parse_spec(record.body)))
    return found


@router.post(
    "/simulate",
    response_model=SimulationOut,
    operation_id="simulatePolicy",
    responses=errors(*BODY),
)
async def simulate_policy(body: SimulationIn, runtime: RuntimeDep) -> dict[str, Any]:
    """What a policy would decide from the given samples, at ``current`` replicas; acts on
    nothing, reads no engine (the service need not exist)."""
    spec = parse_spec(body.policy, prefix="policy.")
    names = {m.name for m in spec.metrics}
    for name in body.samples:
        if name not in names:
            raise InvalidRequest(
                f"samples.{name}: the policy has no metric named {name!r} "
                f"(it has {', '.join(sorted(names))})",
                field=f"samples.{name}",
            )
    evaluation = simulate(spec, current=body.current, samples=body.samples, now=runtime.clock.now())
    return evaluation_json(evaluation)


@router.get(
    "/{ident}",
    response_model=PolicyOut,
    operation_id="getPolicy",
    responses=errors(404),
)
async def get_policy(ident: str, runtime: RuntimeDep) -> dict[str, Any]:
    """A policy, with its last evaluations (time, values, recommendation, what was done,
    errors), newest first: kept in memory on the instance that leads, at most 20 (a
    restart starts them again); ``evaluations`` is null on an instance that does not
    lead. ``last_scaling`` is the newest execution by which it moved the count, from the
    audit trail (on any instance): its ``details`` say why (each metric's value and
    candidate, the winner, the rules that limited it, the reasons)."""
    record = await find(runtime, ident)
    last = await runtime.store.executions.last_scaling(driver="policy", receiver_name=record.name)
    return shown(
        record,
        parse_spec(record.body),
        evaluations=runtime.policies.evaluations(record.id),
        last_scaling=None if last is None else execution_dict(last),
    )


@router.patch(
    "/{ident}",
    response_model=PolicyOut,
    operation_id="updatePolicy",
    responses=errors(*BODY, *ENGINE, 404, said=TAKEN),
)
async def update_policy(ident: str, body: PolicyBody, runtime: RuntimeDep) -> dict[str, Any]:
    """Change fields of a policy (each given field replaces the stored one whole; null
    puts it back to its default); checked as at create."""
    record = await find(runtime, ident)
    merged = {**record.body, **body}
    merged = {key: value for key, value in merged.items() if value is not None}
    spec = parse_spec(merged)
    warnings = await check_policy(
        spec, backends=runtime.backends, sources=runtime.policy_sources, hosts=runtime.hosts
    )
    if merged == record.body:
        return shown(record, spec, warnings=warnings)
    record = await runtime.store.policies.update(
        record.id, name=spec.name, service=spec.target, body=merged
    )
    runtime.policies.changed()
    return shown(record, spec, warnings=warnings)


@router.delete("/{ident}", status_code=204, operation_id="deletePolicy", responses=errors(404))
async def delete_policy(ident: str, runtime: RuntimeDep) -> Response:
    record = await find(runtime, ident)
    await runtime.store.policies.delete(record.id)
    runtime.policies.changed()
    return Response(status_code=204)
