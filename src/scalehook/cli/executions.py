"""``scalehook executions``: the audit trail, and ``--follow`` to watch it grow."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from scalehook.cli.common import State, emit, json_option, pass_state
from scalehook.cli.tables import render

EXECUTION_COLUMNS = [
    ("ID", "id"),
    ("TIME", "started_at"),
    ("RECEIVER", "receiver_name"),
    ("DRIVER", "driver"),
    ("TARGET", "target"),
    ("RESULT", "result"),
    ("BEFORE", "before"),
    ("AFTER", "after"),
    ("MS", "duration_ms"),
    ("CALLER", "caller"),
    ("MESSAGE", "message"),
]
"""How an execution is shown: here, and after any command that makes one."""


@click.command()
@click.option("--receiver", "-r", help="receiver id or name")
@click.option("--service", "-s", help="service name or backend/name")
@click.option("--limit", "-n", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--follow", "-f", is_flag=True, help="keep printing new executions")
@click.option("--interval", type=float, default=1.0, help="poll interval with --follow")
@json_option
@pass_state
def executions(
    state: State,
    receiver: str | None,
    service: str | None,
    limit: int,
    follow: bool,
    interval: float,
    as_json: bool,
) -> None:
    """The audit trail, newest first (oldest first with --follow).

    With --follow, an execution still running (a rollout) is printed again each time
    its result or message changes, until it is done.
    """
    rows = state.client.get("/v1/executions", receiver=receiver, service=service, limit=limit)
    if not follow:
        emit(rows, as_json, EXECUTION_COLUMNS)
        return
    last = 0
    watching: dict[int, tuple[Any, ...]] = {}
    header = True

    def show(row: dict[str, Any]) -> None:
        nonlocal header
        seen = (row["result"], row["message"], row.get("status"))
        if watching.get(row["id"]) == seen:
            return
        if row.get("status") == "running":
            watching[row["id"]] = seen
        else:
            watching.pop(row["id"], None)
        if as_json:
            click.echo(json.dumps(row))
        else:
            lines = render([row], EXECUTION_COLUMNS).splitlines()
            click.echo("\n".join(lines if header else lines[1:]))
            header = False

    rows.reverse()
    while True:
        for row in rows:
            last = max(last, row["id"])
            show(row)
        for ident in list(watching):
            show(state.client.get(f"/v1/executions/{ident}"))
        time.sleep(interval)
        rows = state.client.get(
            "/v1/executions", receiver=receiver, service=service, limit=1000, after=last
        )
        rows.reverse()


command = executions
