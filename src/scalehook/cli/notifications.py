"""``scalehook notifications``: who is told about which executions; their deliveries."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from scalehook.cli.client import ClientError
from scalehook.cli.common import (
    State,
    emit,
    emit_record,
    json_option,
    key_values,
    pass_state,
)

NOTIFICATION_COLUMNS = [
    ("ID", "id"),
    ("NAME", "name"),
    ("TYPE", "type"),
    ("ENABLED", "enabled"),
    ("URL", "url"),
    ("ON", "on"),
]
DELIVERY_COLUMNS = [
    ("ID", "id"),
    ("EXECUTION", "execution_id"),
    ("STATUS", "status"),
    ("TRIES", "attempts"),
    ("NEXT TRY", "next_try_at"),
    ("CREATED", "created_at"),
    ("LAST ERROR", "last_error"),
]


def secret_value(text: str | None) -> str | None:
    """A secret as given, or read from a file: ``@FILE``, ``@-`` for standard input
    (so it stays out of the shell's history and the process list)."""
    if text is None or not text.startswith("@"):
        return text
    try:
        raw = sys.stdin.read() if text == "@-" else Path(text[1:]).read_text(encoding="utf-8")
    except OSError as exc:
        raise ClientError(f"cannot read {text[1:]}: {exc.strerror or exc}") from exc
    return raw.strip()


def filters(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``--on result=failed,rolled_back --on service=web`` → the ``on`` object."""
    on: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r}: write key=value[,value...]", param_hint="--on")
        on.setdefault(key.strip(), []).extend(v.strip() for v in value.split(",") if v.strip())
    return on


def smtp_fields(pairs: tuple[str, ...], to: tuple[str, ...]) -> dict[str, Any] | None:
    smtp = key_values(pairs, option="--smtp")
    for key in ("password", "username", "host", "from"):
        if isinstance(smtp.get(key), int | float | bool):
            smtp[key] = str(smtp[key])
    if "password" in smtp:
        smtp["password"] = secret_value(str(smtp["password"]))
    if to:
        smtp["to"] = list(to)
    return smtp or None


@click.group()
def notifications() -> None:
    """Tell a webhook, Slack or a mailbox about executions."""


@notifications.command("create")
@click.argument("name")
@click.option("--type", "kind", type=click.Choice(["webhook", "slack", "email"]), required=True)
@click.option("--url", help="webhook: where to POST; slack: the incoming webhook (@FILE reads it)")
@click.option("--secret", help="webhook: signs each body (@FILE or @- reads it)")
@click.option("--smtp", "smtp_pairs", multiple=True, metavar="KEY=VALUE",
              help="email: host=, port=, username=, password= (@FILE), password_file=, "
              "from=, starttls=")  # fmt: skip
@click.option("--to", multiple=True, metavar="ADDRESS", help="email: a recipient (repeat)")
@click.option("--on", "on_pairs", multiple=True, metavar="KEY=V1,V2",
              help="only executions with result=, driver=, service=, receiver= (repeat); "
              "none: every execution")  # fmt: skip
@click.option("--disabled", is_flag=True, help="create it disabled")
@json_option
@pass_state
def notifications_create(
    state: State,
    name: str,
    kind: str,
    url: str | None,
    secret: str | None,
    smtp_pairs: tuple[str, ...],
    to: tuple[str, ...],
    on_pairs: tuple[str, ...],
    disabled: bool,
    as_json: bool,
) -> None:
    """Create a notification; the executions it matches are sent to it from now on."""
    body: dict[str, Any] = {"name": name, "type": kind, "enabled": not disabled}
    if url is not None:
        body["url"] = secret_value(url) if kind == "slack" else url
    if secret is not None:
        body["secret"] = secret_value(secret)
    smtp = smtp_fields(smtp_pairs, to)
    if smtp is not None:
        body["smtp"] = smtp
    if on_pairs:
        body["on"] = filters(on_pairs)
    created = state.client.post("/v1/notifications", body)
    if as_json:
        emit(created, True)
    else:
        click.echo(f"notification {created['name']} (id {created['id']}) created")


@notifications.command("list")
@json_option
@pass_state
def notifications_list(state: State, as_json: bool) -> None:
    rows = state.client.get("/v1/notifications")
    if not as_json:
        rows = [{**row, "on": on_text(row.get("on") or {})} for row in rows]
    emit(rows, as_json, NOTIFICATION_COLUMNS)


def on_text(on: dict[str, list[str]]) -> str:
    """A filter as people read it: ``result=failed,rolled_back service=web``."""
    return " ".join(f"{k}={','.join(v)}" for k, v in on.items()) or "every execution"


@notifications.command("show")
@click.argument("notification")
@json_option
@pass_state
def notifications_show(state: State, notification: str, as_json: bool) -> None:
    """Show a notification (by id or name), without its secrets."""
    emit_record(present(state.client.get(f"/v1/notifications/{notification}"), as_json), as_json)


def present(record: dict[str, Any], as_json: bool) -> dict[str, Any]:
    """For people, only the fields of its type (the API gives the others as null)."""
    return record if as_json else {k: v for k, v in record.items() if v is not None}


@notifications.command("update")
@click.argument("notification")
@click.option("--name", help="new name")
@click.option("--enable/--disable", default=None)
@click.option("--url", help="a new URL (slack: @FILE reads it)")
@click.option("--secret", help="webhook: a new secret (@FILE or @- reads it)")
@click.option("--smtp", "smtp_pairs", multiple=True, metavar="KEY=VALUE",
              help="email: change these SMTP keys, keep the others")  # fmt: skip
@click.option("--to", multiple=True, metavar="ADDRESS", help="email: the recipients, anew")
@click.option("--on", "on_pairs", multiple=True, metavar="KEY=V1,V2",
              help="a new filter, replacing the old one")  # fmt: skip
@click.option("--every", is_flag=True, help="clear the filter: every execution")
@json_option
@pass_state
def notifications_update(
    state: State,
    notification: str,
    name: str | None,
    enable: bool | None,
    url: str | None,
    secret: str | None,
    smtp_pairs: tuple[str, ...],
    to: tuple[str, ...],
    on_pairs: tuple[str, ...],
    every: bool,
    as_json: bool,
) -> None:
    """Change a notification; prints it as it is now."""
    if every and on_pairs:
        raise click.UsageError("give --on or --every, not both")
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = name
    if enable is not None:
        body["enabled"] = enable
    if url is not None:
        body["url"] = secret_value(url)
    if secret is not None:
        body["secret"] = secret_value(secret)
    smtp = smtp_fields(smtp_pairs, to)
    if smtp is not None:
        body["smtp"] = smtp
    if on_pairs:
        body["on"] = filters(on_pairs)
    if every:
        body["on"] = {}
    changed = state.client.patch(f"/v1/notifications/{notification}", body)
    emit_record(present(changed, as_json), as_json)


@notifications.command("delete")
@click.argument("notification")
@pass_state
def notifications_delete(state: State, notification: str) -> None:
    """Delete a notification and its deliveries, pending ones included."""
    state.client.delete(f"/v1/notifications/{notification}")
    click.echo(f"notification {notification} deleted")


@notifications.command("deliveries")
@click.argument("notification")
@click.option("--status", type=click.Choice(["pending", "delivered", "failed"]))
@click.option("--limit", "-n", type=click.IntRange(1, 1000), default=20, show_default=True)
@json_option
@pass_state
def notifications_deliveries(
    state: State, notification: str, status: str | None, limit: int, as_json: bool
) -> None:
    """A notification's deliveries, newest first: tries, next try, last error."""
    rows = state.client.get(
        f"/v1/notifications/{notification}/deliveries", status=status, limit=limit
    )
    emit(rows, as_json, DELIVERY_COLUMNS)


@notifications.command("retry")
@click.argument("notification")
@pass_state
def notifications_retry(state: State, notification: str) -> None:
    """Send a notification's failed deliveries again, from their first try."""
    answer = state.client.post(f"/v1/notifications/{notification}/deliveries/retry")
    click.echo(f"{answer['retried']} failed delivery(ies) of {notification} sent again")


command = notifications
