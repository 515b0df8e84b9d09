"""What every command of the ``scalehook`` CLI shares: the API client it is handed, the
``--json`` flag, printing as tables, records or JSON, and ``key=value`` arguments."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from scalehook.cli.client import Client, resolve_endpoint
from scalehook.cli.tables import details, render

F = TypeVar("F", bound=Callable[..., Any])

Columns = list[tuple[str, str]]
"""(header, key) pairs of a table; keys may be dotted (``load.running_tasks``)."""


class State:
    """The global options, and the client made from them on first use."""

    def __init__(self, url: str | None, token: str | None) -> None:
        self._url = url
        self._token = token
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            url, token = resolve_endpoint(self._url, self._token)
            self._client = Client(url, token)
        return self._client


pass_state = click.make_pass_decorator(State)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="print JSON for scripts")(func)


def emit(data: Any, as_json: bool, columns: Columns | None = None) -> None:
    """JSON with ``--json`` (or with no columns to show), else a table."""
    if as_json or columns is None:
        click.echo(json.dumps(data, indent=2))
    else:
        rows = data if isinstance(data, list) else [data]
        click.echo(render(rows, columns))


def emit_record(data: dict[str, Any], as_json: bool) -> None:
    """One record: JSON with ``--json``, else ``key: value`` lines, nested ones indented."""
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(details(data))


def parse_value(text: str) -> Any:
    """``3`` → 3, ``true`` → True, ``{"a": 1}`` → a dict; anything else stays text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def key_values(pairs: tuple[str, ...], *, option: str = "--set") -> dict[str, Any]:
    config: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r}: write key=value", param_hint=option)
        config[key] = parse_value(value)
    return config
