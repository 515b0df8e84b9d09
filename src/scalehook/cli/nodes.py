"""``scalehook nodes``: every machine that runs replicas, with what it holds against the
most it may hold (the cluster overview: is there room for one more?)."""

from __future__ import annotations

from typing import Any

import click

from scalehook.cli.common import State, emit, json_option, pass_state

NODE_COLUMNS = [
    ("BACKEND", "backend"),
    ("NODE", "name"),
    ("KIND", "kind"),
    ("ROLE", "role"),
    ("STATE", "state"),
    ("CPUS", "cpus"),
    ("MEMORY", "memory_text"),
    ("REPLICAS", "replicas"),
    ("MAX", "max_replicas"),
    ("FREE", "free"),
    ("BOUND", "bound"),
    ("FULL", "full"),
    ("SERVICES", "services"),
    ("NOTE", "note"),
]


def _readable(node: dict[str, Any]) -> dict[str, Any]:
    """A node as the table shows it: memory in GiB, the error in the note."""
    memory = node.get("memory")
    shown = dict(node)
    shown["memory_text"] = None if memory is None else f"{memory / 2**30:.1f}Gi"
    if node.get("error"):
        shown["note"] = f"unreadable: {node['error']}"
    return shown


@click.command("nodes")
@json_option
@pass_state
def nodes(state: State, as_json: bool) -> None:
    """The machines that run replicas: CPUs, memory, replicas now, the most they hold."""
    found = state.client.get("/v1/nodes")
    if as_json:
        emit(found, True)
        return
    emit([_readable(n) for n in found], False, NODE_COLUMNS)


command = nodes
