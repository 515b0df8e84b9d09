"""``scalehook services``: see and scale the services of every backend."""

from __future__ import annotations

import click

from scalehook.cli.common import State, emit, json_option, pass_state
from scalehook.cli.executions import EXECUTION_COLUMNS

SERVICE_COLUMNS = [
    ("SERVICE", "ref"),
    ("BACKEND", "backend"),
    ("DESIRED", "desired"),
    ("RUNNING", "running"),
    ("READY", "ready"),
    ("IMAGE", "image"),
    ("LABELS", "labels"),
]
REPLICA_COLUMNS = [
    ("REPLICA", "id"),
    ("STATE", "state"),
    ("READY", "ready"),
    ("ADDRESS", "address"),
    ("PID", "pid"),
    ("RESTARTS", "restarts"),
    ("CPU%", "cpu_percent"),
    ("MEMORY", "memory_bytes"),
]


@click.group()
def services() -> None:
    """See and scale the services of every backend."""


@services.command("list")
@click.option("--selector", "-l", help="labels, e.g. tier=front")
@json_option
@pass_state
def services_list(state: State, selector: str | None, as_json: bool) -> None:
    """Every backend's services; a backend that cannot be read is named on stderr."""
    params = {"selector": selector} if selector else {}
    services, headers = state.client.exchange("GET", "/v1/services", params=params)
    emit(services, as_json, SERVICE_COLUMNS)
    missing = headers.get("x-unavailable-backends")
    if missing:
        click.echo(f"warning: not listed, these backends could not be read: {missing}", err=True)


@services.command("show")
@click.argument("service")
@json_option
@pass_state
def services_show(state: State, service: str, as_json: bool) -> None:
    """A service and its replicas (readiness, CPU%, memory)."""
    detail = state.client.get(f"/v1/services/{service}")
    if as_json:
        emit(detail, True)
        return
    emit(detail, False, SERVICE_COLUMNS)
    click.echo()
    emit(detail["replicas"], False, REPLICA_COLUMNS)


@services.command("scale")
@click.argument("service")
@click.argument("replicas", type=click.IntRange(min=0))
@json_option
@pass_state
def services_scale(state: State, service: str, replicas: int, as_json: bool) -> None:
    """Set a service's replica count (recorded in the audit trail)."""
    body = {"replicas": replicas}
    emit(state.client.post(f"/v1/services/{service}/scale", body), as_json, EXECUTION_COLUMNS)


command = services
