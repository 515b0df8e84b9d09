"""``scalehook hosts``: see, add and remove the Swarm's hosts."""

from __future__ import annotations

from typing import Any

import click

from scalehook.cli.common import State, emit, json_option, key_values, pass_state
from scalehook.cli.executions import EXECUTION_COLUMNS
from scalehook.cli.tables import size

HOST_COLUMNS = [
    ("ID", "id"),
    ("NAME", "name"),
    ("STATE", "state"),
    ("AVAILABILITY", "availability"),
    ("ROLE", "role"),
    ("PROVIDER", "provider"),
    ("CREATED", "created"),
    ("CLONEABLE", "cloneable"),
    ("TASKS", "load.running_tasks"),
    ("CPU", "cpu"),
    ("MEMORY", "memory"),
    ("LABELS", "labels"),
]


def _host_rows(hosts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for host in hosts:
        load = host["load"]
        rows.append(
            {
                **host,
                "id": host["id"][:12],
                "created": host["created"][:19],
                "cpu": f"{load['cpu_reserved']:g}/{load['cpu_total']:g}",
                "memory": f"{size(load['memory_reserved'])}/{size(load['memory_total'])}",
            }
        )
    return rows


@click.group()
def hosts() -> None:
    """See, add and remove the Swarm's hosts (host groups are chosen by labels)."""


@hosts.command("list")
@click.option("--selector", "-l", help="labels, e.g. group=batch")
@json_option
@pass_state
def hosts_list(state: State, selector: str | None, as_json: bool) -> None:
    found = state.client.get("/v1/hosts", selector=selector)
    if as_json:
        emit(found, True)
    else:
        emit(_host_rows(found), False, HOST_COLUMNS)


@hosts.command("add")
@click.option("--provider", required=True, help="netns or libcloud")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", help="a label of the host")
@click.option("--name", help="host name (default: from the first label)")
@json_option
@pass_state
def hosts_add(
    state: State, provider: str, labels: tuple[str, ...], name: str | None, as_json: bool
) -> None:
    """Make a host and wait until it is Ready in the Swarm."""
    body: dict[str, Any] = {
        "provider": provider,
        "labels": {k: str(v) for k, v in key_values(labels, option="--label").items()},
    }
    if name:
        body["name"] = name
    made = state.client.post("/v1/hosts", body)
    if as_json:
        emit(made, True)
    else:
        emit(_host_rows([made]), False, HOST_COLUMNS)


@hosts.command("remove")
@click.argument("host")
@click.option("--drain-timeout", help="how long tasks may take to move (e.g. 2m)")
@json_option
@pass_state
def hosts_remove(state: State, host: str, drain_timeout: str | None, as_json: bool) -> None:
    """Drain a host, then destroy it and remove it from the Swarm."""
    params = f"?drain_timeout={drain_timeout}" if drain_timeout else ""
    emit(state.client.delete(f"/v1/hosts/{host}{params}"), as_json, EXECUTION_COLUMNS)


command = hosts
