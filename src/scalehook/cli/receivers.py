"""``scalehook receivers``: create, list, show, change, rotate, delete and fire receivers."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import httpx

from scalehook.cli.client import ClientError, decode
from scalehook.cli.common import (
    State,
    emit,
    emit_record,
    json_option,
    key_values,
    pass_state,
)
from scalehook.cli.executions import EXECUTION_COLUMNS

RECEIVER_COLUMNS = [
    ("ID", "id"),
    ("NAME", "name"),
    ("DRIVER", "driver"),
    ("ENABLED", "enabled"),
    ("DRY-RUN", "dry_run"),
    ("PAUSED", "paused"),
    ("CONFIG", "config"),
]


@click.group()
def receivers() -> None:
    """Create and manage receivers (trigger URLs)."""


@receivers.command("create")
@click.argument("name")
@click.option("--driver", default="scaleService", show_default=True)
@click.option("--service", help="service to scale (scaleService)")
@click.option("--action", type=click.Choice(["up", "down"]), help="scale up or down")
@click.option("--amount", type=int, help="replicas per trigger")
@click.option("--min", "minimum", type=int, help="never below this")
@click.option("--max", "maximum", type=int, help="never above this")
@click.option(
    "--on-resolved",
    type=click.Choice(["none", "up", "down"]),
    help="Alertmanager: undo the action when the alert resolves (the opposite action)",
)
@click.option(
    "--cooldown",
    metavar="DURATION",
    help="least time between two actions of one direction, e.g. 5m (also --cooldown-up/-down)",
)
@click.option("--cooldown-up", metavar="DURATION", help="least time between two scale-ups")
@click.option("--cooldown-down", metavar="DURATION", help="least time between two scale-downs")
@click.option("--match", metavar="LABELS", help="Alertmanager: act only on alerts with k=v,...")
@click.option("--per-alert", is_flag=True, default=None, help="one step per new alert")
@click.option("--no-dedupe", is_flag=True, help="act on every re-send (not recommended)")
@click.option("--set", "pairs", multiple=True, metavar="KEY=VALUE", help="any config key")
@click.option("--disabled", is_flag=True, help="create it disabled")
@click.option("--dry-run", is_flag=True, help="record what it would do, change nothing")
@click.option("--paused", is_flag=True, help="create it paused (answers 200, does nothing)")
@json_option
@pass_state
def receivers_create(
    state: State,
    name: str,
    driver: str,
    service: str | None,
    action: str | None,
    amount: int | None,
    minimum: int | None,
    maximum: int | None,
    on_resolved: str | None,
    cooldown: str | None,
    cooldown_up: str | None,
    cooldown_down: str | None,
    match: str | None,
    per_alert: bool | None,
    no_dedupe: bool,
    pairs: tuple[str, ...],
    disabled: bool,
    dry_run: bool,
    paused: bool,
    as_json: bool,
) -> None:
    """Create a receiver and print its trigger URL (shown in full only now)."""
    config: dict[str, Any] = {
        k: v
        for k, v in {
            "service": service,
            "action": action,
            "amount": amount,
            "min": minimum,
            "max": maximum,
            "on_resolved": on_resolved,
            "match": match,
            "per_alert": per_alert,
            "dedupe": False if no_dedupe else None,
        }.items()
        if v is not None
    }
    if cooldown or cooldown_up or cooldown_down:
        config["cooldown"] = {
            "up": cooldown_up or cooldown or 0,
            "down": cooldown_down or cooldown or 0,
        }
    config.update(key_values(pairs))
    body = {
        "name": name,
        "driver": driver,
        "config": config,
        "enabled": not disabled,
        "dry_run": dry_run,
        "paused": paused,
    }
    created = state.client.post("/v1/receivers", body)
    if as_json:
        emit(created, True)
    else:
        click.echo(f"receiver {created['name']} (id {created['id']}) created; trigger URL:")
        click.echo(created["url"])


@receivers.command("list")
@json_option
@pass_state
def receivers_list(state: State, as_json: bool) -> None:
    emit(state.client.get("/v1/receivers"), as_json, RECEIVER_COLUMNS)


@receivers.command("show")
@click.argument("receiver")
@json_option
@pass_state
def receivers_show(state: State, receiver: str, as_json: bool) -> None:
    """Show a receiver (by id or name): its fields, then its config."""
    emit_record(state.client.get(f"/v1/receivers/{receiver}"), as_json)


@receivers.command("update")
@click.argument("receiver")
@click.option("--name", help="new name")
@click.option("--enable/--disable", default=None, help="enable or disable the URL")
@click.option("--pause/--resume", default=None, help="pause: answer 200 and do nothing")
@click.option("--dry-run/--live", default=None, help="dry run: record, change nothing")
@click.option("--set", "pairs", multiple=True, metavar="KEY=VALUE", help="change a config key")
@json_option
@pass_state
def receivers_update(
    state: State,
    receiver: str,
    name: str | None,
    enable: bool | None,
    pause: bool | None,
    dry_run: bool | None,
    pairs: tuple[str, ...],
    as_json: bool,
) -> None:
    """Rename, enable/disable, pause/resume, switch dry-run, or change config keys;
    prints the receiver as it is now."""
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = name
    if enable is not None:
        body["enabled"] = enable
    if pause is not None:
        body["paused"] = pause
    if dry_run is not None:
        body["dry_run"] = dry_run
    if pairs:
        body["config"] = key_values(pairs)
    emit_record(state.client.patch(f"/v1/receivers/{receiver}", body), as_json)


@receivers.command("rotate")
@click.argument("receiver")
@json_option
@pass_state
def receivers_rotate(state: State, receiver: str, as_json: bool) -> None:
    """Give a receiver a new key; the old URL stops working."""
    rotated = state.client.post(f"/v1/receivers/{receiver}/rotate")
    if as_json:
        emit(rotated, True)
    else:
        click.echo(f"new trigger URL for {rotated['name']} (the old one no longer works):")
        click.echo(rotated["url"])


@receivers.command("delete")
@click.argument("receiver")
@pass_state
def receivers_delete(state: State, receiver: str) -> None:
    state.client.delete(f"/v1/receivers/{receiver}")
    click.echo(f"receiver {receiver} deleted")


@receivers.command("trigger")
@click.argument("url_or_key")
@click.option("--data", "-d", help="body to send; @FILE reads a file, @- standard input")
@click.option("--header", "-H", "headers", multiple=True, metavar="NAME:VALUE")
@json_option
@pass_state
def receivers_trigger(
    state: State, url_or_key: str, data: str | None, headers: tuple[str, ...], as_json: bool
) -> None:
    """POST to a trigger URL (or key), as Alertmanager or CI would; needs no token."""
    url = url_or_key
    if not url.startswith(("http://", "https://")):
        url = f"{state.client.url}/v1/hooks/{url_or_key}"
    body: bytes = b""
    if data is not None:
        if data == "@-":
            body = sys.stdin.buffer.read()
        elif data.startswith("@"):
            body = Path(data[1:]).read_bytes()
        else:
            body = data.encode()
    sent = {}
    for header in headers:
        name, _, value = header.partition(":")
        sent[name.strip()] = value.strip()
    if body and "content-type" not in {k.lower() for k in sent}:
        sent["Content-Type"] = "application/json"
    try:
        response = httpx.post(url, content=body, headers=sent, timeout=60)
    except httpx.HTTPError as exc:
        raise ClientError(f"cannot reach {url.split('/v1/hooks/')[0]}: {exc}") from exc
    emit(decode(response), as_json, EXECUTION_COLUMNS)


command = receivers
