"""``scalehook policies``: create (from flags or a file), list, show, change, pause and
resume, dry-run and live, simulate and delete autoscaling policies."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from scalehook.cli.client import ClientError
from scalehook.cli.common import (
    State,
    emit,
    emit_record,
    json_option,
    key_values,
    parse_value,
    pass_state,
)
from scalehook.cli.tables import render
from scalehook.domain.selectors import Selector

POLICY_COLUMNS = [
    ("ID", "id"),
    ("NAME", "name"),
    ("SCALES", "target"),
    ("MIN", "min"),
    ("MAX", "max"),
    ("INTERVAL", "interval"),
    ("METRICS", "metric_names"),
    ("DRY-RUN", "dry_run"),
    ("PAUSED", "paused"),
]
EVALUATION_COLUMNS = [
    ("AT", "at"),
    ("ACTION", "action"),
    ("CURRENT", "current"),
    ("DESIRED", "desired"),
    ("VALUES", "values"),
    ("LIMITED BY", "limits"),
    ("EXECUTION", "execution_id"),
]
SHORTHANDS = {
    "cpu": ("engine", "cpu"),
    "memory": ("engine", "memory"),
    "connections": ("balancer", "connections"),
    "rate": ("balancer", "rate"),
    "slots": ("capacity", "used"),
}


def read_body(path: Path) -> dict[str, Any]:
    """A policy body from a YAML or JSON file (``-``: standard input)."""
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text()
    except OSError as exc:
        raise ClientError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        body = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ClientError(f"{path} is not valid YAML or JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ClientError(f"{path}: a policy is a mapping of its fields")
    return body


def parse_metric(text: str) -> dict[str, Any]:
    """``{"name": ...}`` (JSON), or ``name=cpu,source=engine,metric=cpu,target=60``."""
    if text.lstrip().startswith("{"):
        try:
            metric = json.loads(text)
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--metric") from exc
        if not isinstance(metric, dict):
            raise click.BadParameter("write a JSON object", param_hint="--metric")
        return metric
    return key_values(tuple(part for part in text.split(",") if part), option="--metric")


def metrics_from(
    metrics: tuple[str, ...], shorthands: dict[str, float | str | None]
) -> list[dict[str, Any]]:
    found = [parse_metric(m) for m in metrics]
    for name, target in shorthands.items():
        if target is not None:
            source, metric = SHORTHANDS[name]
            found.append({"name": name, "source": source, "metric": metric, "target": target})
    return found


def on_error_of(text: str | None) -> Any:
    """``hold``, or ``fallback=N[,failures=M]``."""
    if text is None or text == "hold":
        return text
    parsed = key_values(tuple(text.split(",")), option="--on-error")
    if "fallback" not in parsed:
        raise click.BadParameter("write hold, or fallback=N[,failures=M]", param_hint="--on-error")
    return parsed


def shared_options(func: Any) -> Any:
    """The options create and update share."""
    options = [
        click.option("--service", help="the service to scale (a name, or backend/name)"),
        click.option(
            "--hosts",
            metavar="SELECTOR",
            help="or the host group to scale: the labels its hosts carry (group=batch)",
        ),
        click.option("--min", "minimum", type=int, help="never fewer replicas (0: scale to zero)"),
        click.option("--max", "maximum", type=int, help="never more replicas"),
        click.option("--interval", metavar="DURATION", help="how often it is evaluated (15s)"),
        click.option(
            "--metric",
            "metrics",
            multiple=True,
            metavar="SPEC",
            help="a metric: name=queue,source=prometheus,query=...,target=100, or a JSON object",
        ),
        click.option("--cpu", type=float, help="target CPU % per replica (source engine)"),
        click.option(
            "--memory", help="target memory per replica, bytes or a size: 256Mi (source engine)"
        ),
        click.option(
            "--connections", type=float, help="target open connections per replica (balancer)"
        ),
        click.option("--rate", type=float, help="target new connections/s per replica (balancer)"),
        click.option(
            "--slots", type=float, help="target % of task slots used per host (capacity, --hosts)"
        ),
        click.option("--on-error", help="hold (default), or fallback=N[,failures=M]"),
        click.option("--set", "pairs", multiple=True, metavar="KEY=VALUE", help="any field"),
        click.option(
            "-f",
            "--file",
            "path",
            type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
            help="a policy body (YAML or JSON); the other options change its fields",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def body_from(
    *,
    path: Path | None,
    service: str | None,
    hosts: str | None,
    minimum: int | None,
    maximum: int | None,
    interval: str | None,
    metrics: tuple[str, ...],
    cpu: float | None,
    memory: str | None,
    connections: float | None,
    rate: float | None,
    slots: float | None,
    on_error: str | None,
    pairs: tuple[str, ...],
) -> dict[str, Any]:
    body: dict[str, Any] = read_body(path) if path is not None else {}
    if hosts is not None:
        body["hosts"] = {**(body.get("hosts") or {}), "selector": Selector.parse(hosts).as_dict()}
    given = {
        "service": service,
        "min": minimum,
        "max": maximum,
        "interval": interval,
        "on_error": on_error_of(on_error),
    }
    body.update({k: v for k, v in given.items() if v is not None})
    listed = metrics_from(
        metrics,
        {"cpu": cpu, "memory": memory, "connections": connections, "rate": rate, "slots": slots},
    )
    if listed:
        body["metrics"] = listed
    body.update(key_values(pairs))
    return body


@click.group()
def policies() -> None:
    """Autoscaling policies: scalehook watches metrics and scales a service (or a host
    group) on its own."""


@policies.command("create")
@click.argument("name", required=False)
@shared_options
@click.option("--dry-run", is_flag=True, default=None, help="evaluate and record, change nothing")
@click.option("--paused", is_flag=True, default=None, help="create it paused (not evaluated)")
@json_option
@pass_state
def policies_create(
    state: State,
    /,
    name: str | None,
    dry_run: bool | None,
    paused: bool | None,
    as_json: bool,
    **fields: Any,
) -> None:
    """Create a policy from flags, a file (-f), or both (the flags win).

    \b
    scalehook policies create web-cpu --service web --min 1 --max 10 --interval 5s --cpu 60
    scalehook policies create batch-hosts --hosts group=batch --min 1 --max 5 --slots 75
    scalehook policies create -f web-policy.yaml
    """
    body = body_from(**fields)
    if name is not None:
        body["name"] = name
    for key, value in (("dry_run", dry_run), ("paused", paused)):
        if value is not None:
            body[key] = value
    created = state.client.post("/v1/policies", body)
    if as_json:
        emit(created, True)
        return
    click.echo(f"policy {created['name']} (id {created['id']}) created for {created['target']}")
    for warning in created.get("warnings") or []:
        click.echo(f"warning: {warning}", err=True)


@policies.command("list")
@json_option
@pass_state
def policies_list(state: State, as_json: bool) -> None:
    found = state.client.get("/v1/policies")
    if as_json:
        emit(found, True)
        return
    for policy in found:
        policy["metric_names"] = ",".join(m.get("name", "?") for m in policy.get("metrics", []))
    emit(found, False, POLICY_COLUMNS)


@policies.command("show")
@click.argument("policy")
@json_option
@pass_state
def policies_show(state: State, policy: str, as_json: bool) -> None:
    """A policy (by id or name): its fields, then its last evaluations (kept in memory
    on the instance that leads)."""
    found = state.client.get(f"/v1/policies/{policy}")
    if as_json:
        emit(found, True)
        return
    evaluations = found.pop("evaluations", None)
    last = found.pop("last_scaling", None)
    found.pop("effective", None)
    found.pop("warnings", None)
    emit_record(found, False)
    if last is None:
        click.echo("\nlast scaling: none in the audit trail")
    else:
        details = last.get("details", {})
        click.echo(f"\nlast scaling: {last['started_at']} {last['before']} -> {last['after']} "
                   f"(execution {last['id']})")  # fmt: skip
        click.echo(f"  values: {_values(details.get('metrics', []))}")
        click.echo(f"  winner: {details.get('winner') or '-'}; limited by: "
                   f"{', '.join(details.get('limited_by', [])) or '-'}")  # fmt: skip
        for reason in details.get("reasons", []):
            click.echo(f"  {reason}")
    if evaluations is None:
        click.echo("\nlast evaluations: not known here (this instance does not lead)")
        return
    click.echo("\nlast evaluations (newest first, kept in memory by the leader):")
    rows = [
        {
            **e,
            "values": _values(e.get("metrics", [])),
            "limits": ",".join(e.get("limited_by", [])),
        }
        for e in evaluations
    ]
    click.echo(render(rows, EVALUATION_COLUMNS) if rows else "(none yet)")


def _values(metrics: list[dict[str, Any]]) -> str:
    return ",".join(f"{m['name']}={_value(m)}" for m in metrics)


def _value(metric: dict[str, Any]) -> str:
    if metric.get("error"):
        return "error"
    value = metric.get("value")
    return "-" if value is None else f"{value:g}"


@policies.command("update")
@click.argument("policy")
@shared_options
@click.option("--name", help="new name")
@click.option("--pause/--resume", default=None, help="pause: not evaluated")
@click.option("--dry-run/--live", default=None, help="dry run: evaluate and record only")
@json_option
@pass_state
def policies_update(
    state: State,
    /,
    policy: str,
    name: str | None,
    pause: bool | None,
    dry_run: bool | None,
    as_json: bool,
    **fields: Any,
) -> None:
    """Change fields of a policy (--metric and the metric flags replace its metrics);
    prints the policy as it is now."""
    body = body_from(**fields)
    for key, value in (("name", name), ("paused", pause), ("dry_run", dry_run)):
        if value is not None:
            body[key] = value
    _patch(state, policy, body, as_json)


def _patch(state: State, policy: str, body: dict[str, Any], as_json: bool) -> None:
    changed = state.client.patch(f"/v1/policies/{policy}", body)
    if as_json:
        emit(changed, True)
        return
    changed.pop("evaluations", None)
    changed.pop("last_scaling", None)
    changed.pop("effective", None)
    warnings = changed.pop("warnings", None) or []
    emit_record(changed, False)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)


def _flag(name: str, field: str, value: bool, text: str) -> click.Command:
    @click.command(name, help=text)
    @click.argument("policy")
    @json_option
    @pass_state
    def command(state: State, policy: str, as_json: bool) -> None:
        _patch(state, policy, {field: value}, as_json)

    return command


policies.add_command(_flag("pause", "paused", True, "Pause a policy: it is not evaluated."))
policies.add_command(_flag("resume", "paused", False, "Resume a paused policy."))
policies.add_command(
    _flag("dry-run", "dry_run", True, "Evaluate and record what it would do; change nothing.")
)
policies.add_command(_flag("live", "dry_run", False, "Let a dry-run policy act again."))


@policies.command("delete")
@click.argument("policy")
@pass_state
def policies_delete(state: State, policy: str) -> None:
    state.client.delete(f"/v1/policies/{policy}")
    click.echo(f"policy {policy} deleted")


@policies.command("simulate")
@click.argument("policy", required=False)
@click.option(
    "-f",
    "--file",
    "path",
    type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
    help="a policy body to simulate instead of a stored POLICY",
)
@click.option("--current", type=int, required=True, help="replicas now")
@click.option(
    "--sample",
    "samples",
    multiple=True,
    metavar="METRIC=V1,V2,...",
    help="a metric's values, one per replica (null: no sample), e.g. cpu=90,80,null",
)
@click.option("--samples", "samples_json", help="the samples as JSON (the API's samples)")
@json_option
@pass_state
def policies_simulate(
    state: State,
    policy: str | None,
    path: Path | None,
    current: int,
    samples: tuple[str, ...],
    samples_json: str | None,
    as_json: bool,
) -> None:
    """What a policy would decide from these samples; acts on nothing."""
    if (policy is None) == (path is None):
        raise click.UsageError("name a stored POLICY or give a file with -f, one of them")
    if path is not None:
        body = read_body(path)
    else:
        body = state.client.get(f"/v1/policies/{policy}")
        body = {k: v for k, v in body.items() if k not in _SHOWN_ONLY}
    given: dict[str, Any] = {}
    if samples_json:
        parsed = parse_value(samples_json)
        if not isinstance(parsed, dict):
            raise click.BadParameter("write a JSON object", param_hint="--samples")
        given.update(parsed)
    for sample in samples:
        metric, sep, values = sample.partition("=")
        if not sep or not metric:
            raise click.BadParameter(f"{sample!r}: write METRIC=V1,V2", param_hint="--sample")
        given[metric] = [{"value": parse_value(v)} for v in values.split(",") if v]
    answer = state.client.post(
        "/v1/policies/simulate", {"policy": body, "current": current, "samples": given}
    )
    if as_json:
        emit(answer, True)
        return
    click.echo(f"desired: {answer['desired']} (current {current}, recommended "
               f"{answer['recommendation']})")  # fmt: skip
    for reason in answer.get("reasons", []):
        click.echo(f"  {reason}")


_SHOWN_ONLY = frozenset(
    {
        "id", "target", "effective", "created_at", "updated_at", "warnings", "evaluations",
        "last_scaling",
    }
)  # fmt: skip

command = policies
