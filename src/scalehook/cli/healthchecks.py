"""``scalehook healthchecks``: set, show, list and delete services' health checks."""

from __future__ import annotations

from typing import Any

import click

from scalehook.cli.common import State, emit, emit_record, json_option, pass_state

CHECK_COLUMNS = [
    ("SERVICE", "service"),
    ("SOURCE", "source"),
    ("PROBE", "probe"),
    ("INTERVAL", "check.interval"),
    ("STRATEGY", "check.strategy"),
    ("HEALTHY", "counts.healthy"),
    ("UNHEALTHY", "counts.unhealthy"),
    ("INITIALIZING", "counts.initializing"),
    ("ALL-FAILING", "all_failing"),
]
REPLICA_COLUMNS = [
    ("REPLICA", "replica"),
    ("STATE", "state"),
    ("SINCE", "since"),
    ("LAST CHECK", "last_check.detail"),
    ("REASON", "reason"),
]
_OPTIONS = (
    ("port", "port"),
    ("interval", "interval"),
    ("timeout", "timeout"),
    ("healthy_threshold", "healthy_threshold"),
    ("unhealthy_threshold", "unhealthy_threshold"),
    ("initializing_timeout", "initializing_timeout"),
    ("reinitializing_timeout", "reinitializing_timeout"),
    ("strategy", "strategy"),
    ("quorum", "quorum"),
    ("max_recreations", "max_recreations"),
    ("recreation_window", "recreation_window"),
    ("backoff", "backoff"),
    ("max_backoff", "max_backoff"),
)


@click.group()
def healthchecks() -> None:
    """Health checks that heal: probe each replica, replace the ones that fail."""


@healthchecks.command("set")
@click.argument("service")
@click.option("--http", metavar="REQUEST-LINE", help="e.g. 'GET /healthz HTTP/1.0'")
@click.option("--tcp", is_flag=True, default=None, help="a TCP connect (the default probe)")
@click.option("--docker", is_flag=True, default=None, help="the container's own HEALTHCHECK")
@click.option("--port", type=int, help="port to probe (default: the replica's)")
@click.option("--interval", metavar="DURATION", help="between two checks (default 2s)")
@click.option("--timeout", metavar="DURATION", help="a check fails after this (default 2s)")
@click.option("--healthy-threshold", type=int, help="passes in a row to be healthy (2)")
@click.option("--unhealthy-threshold", type=int, help="failures in a row to be unhealthy (3)")
@click.option("--initializing-timeout", metavar="DURATION", help="default 60s")
@click.option("--reinitializing-timeout", metavar="DURATION", help="default 60s")
@click.option("--strategy", type=click.Choice(["none", "recreate", "quorum"]))
@click.option("--quorum", type=int, help="healthy replicas quorum needs (strategy quorum)")
@click.option("--max-recreations", type=int, help="recreations per window (default 5)")
@click.option("--recreation-window", metavar="DURATION", help="default 10m")
@click.option("--backoff", metavar="DURATION", help="least time between recreations (10s)")
@click.option("--max-backoff", metavar="DURATION", help="the backoff doubles up to this (5m)")
@json_option
@pass_state
def healthchecks_set(state: State, /, service: str, as_json: bool, **options: Any) -> None:
    """Set SERVICE's health check (the whole check: what is not given takes its
    default). It replaces one declared in scalehook.yaml while it exists."""
    body: dict[str, Any] = {}
    for key in ("http", "tcp", "docker"):
        if options.get(key) is not None:
            body[key] = options[key]
    for option, key in _OPTIONS:
        if options.get(option) is not None:
            body[key] = options[option]
    shown = state.client.request("PUT", f"/v1/services/{service}/healthcheck", json=body)
    _show(shown, as_json)


@healthchecks.command("show")
@click.argument("service")
@json_option
@pass_state
def healthchecks_show(state: State, service: str, as_json: bool) -> None:
    """SERVICE's check, where it comes from, and each replica's health."""
    _show(state.client.get(f"/v1/services/{service}/healthcheck"), as_json)


@healthchecks.command("list")
@json_option
@pass_state
def healthchecks_list(state: State, as_json: bool) -> None:
    """Every check in force (set through the API, or declared in scalehook.yaml)."""
    found = state.client.get("/v1/healthchecks")
    if as_json:
        emit(found, True)
        return
    emit([_summary(c) for c in found], False, CHECK_COLUMNS)


@healthchecks.command("delete")
@click.argument("service")
@pass_state
def healthchecks_delete(state: State, service: str) -> None:
    """Delete SERVICE's check set through the API (one in scalehook.yaml then applies)."""
    state.client.delete(f"/v1/services/{service}/healthcheck")
    click.echo(f"health check of {service} deleted")


def _summary(check: dict[str, Any]) -> dict[str, Any]:
    spec = check.get("check") or {}
    probe = spec.get("http") or ("docker" if spec.get("docker") else "tcp")
    counts = {"healthy": 0, "unhealthy": 0, "initializing": 0}
    for replica in check.get("replicas") or []:
        state = "initializing" if replica["state"] == "reinitializing" else replica["state"]
        counts[state] = counts.get(state, 0) + 1
    return {**check, "probe": probe, "counts": counts}


def _show(check: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit(check, True)
        return
    replicas = check.get("replicas") or []
    record = {k: v for k, v in check.items() if k not in ("replicas", "declared")}
    emit_record(record, False)
    if replicas:
        click.echo()
        emit(replicas, False, REPLICA_COLUMNS)


command = healthchecks
