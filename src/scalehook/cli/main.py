"""The ``scalehook`` command line."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import httpx

from scalehook import __version__
from scalehook.cli.client import Client, ClientError, decode, resolve_endpoint
from scalehook.cli.tables import render
from scalehook.errors import ScalehookError

F = TypeVar("F", bound=Callable[..., Any])

RECEIVER_COLUMNS = [
    ("ID", "id"),
    ("NAME", "name"),
    ("DRIVER", "driver"),
    ("ENABLED", "enabled"),
    ("DRY-RUN", "dry_run"),
    ("PAUSED", "paused"),
    ("CONFIG", "config"),
]
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


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="print JSON for scripts")(func)


class State:
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


def emit(data: Any, as_json: bool, columns: list[tuple[str, str]] | None = None) -> None:
    if as_json or columns is None:
        click.echo(json.dumps(data, indent=2))
    else:
        rows = data if isinstance(data, list) else [data]
        click.echo(render(rows, columns))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="scalehook")
@click.option("--url", envvar="SCALEHOOK_URL", help="server URL (env SCALEHOOK_URL)")
@click.option("--token", help="admin token (env SCALEHOOK_TOKEN)")
@click.pass_context
def cli(ctx: click.Context, url: str | None, token: str | None) -> None:
    """Elastic scaling driven by webhooks."""
    ctx.obj = State(url, token)


# serve ---------------------------------------------------------------------------


@cli.command()
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="scalehook.yaml (default: ./scalehook.yaml if present)",
)
@click.option("--host", help="address to listen on (default 127.0.0.1)")
@click.option("--port", type=int, help="port to listen on (default 8085)")
@click.option(
    "--data-dir", type=click.Path(path_type=Path, file_okay=False), help="state directory"
)
def serve(
    config_path: Path | None, host: str | None, port: int | None, data_dir: Path | None
) -> None:
    """Run scalehook: the API, the trigger URLs and the services of the config."""
    from scalehook.config import load_settings
    from scalehook.server import serve as run
    from scalehook.server import setup_logging

    if config_path is None and Path("scalehook.yaml").exists():
        config_path = Path("scalehook.yaml")
    try:
        settings = load_settings(config_path, host=host, port=port, data_dir=data_dir)
        setup_logging(settings.log_level)
        asyncio.run(run(settings))
    except ScalehookError as exc:
        click.echo(f"scalehook: {exc.message}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        pass


# receivers -----------------------------------------------------------------------


@cli.group()
def receivers() -> None:
    """Create and manage receivers (trigger URLs)."""


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _settings(pairs: tuple[str, ...]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r}: write key=value", param_hint="--set")
        config[key] = _parse_value(value)
    return config


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
@click.pass_obj
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
    config.update(_settings(pairs))
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
@click.pass_obj
def receivers_list(state: State, as_json: bool) -> None:
    emit(state.client.get("/v1/receivers"), as_json, RECEIVER_COLUMNS)


@receivers.command("show")
@click.argument("receiver")
@click.pass_obj
def receivers_show(state: State, receiver: str) -> None:
    """Show a receiver (by id or name), as JSON: its config is nested."""
    emit(state.client.get(f"/v1/receivers/{receiver}"), True)


@receivers.command("update")
@click.argument("receiver")
@click.option("--name", help="new name")
@click.option("--enable/--disable", default=None, help="enable or disable the URL")
@click.option("--pause/--resume", default=None, help="pause: answer 200 and do nothing")
@click.option("--dry-run/--live", default=None, help="dry run: record, change nothing")
@click.option("--set", "pairs", multiple=True, metavar="KEY=VALUE", help="change a config key")
@click.pass_obj
def receivers_update(
    state: State,
    receiver: str,
    name: str | None,
    enable: bool | None,
    pause: bool | None,
    dry_run: bool | None,
    pairs: tuple[str, ...],
) -> None:
    """Rename, enable/disable, pause/resume, switch dry-run, or change config keys;
    prints the receiver as JSON."""
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
        body["config"] = _settings(pairs)
    emit(state.client.patch(f"/v1/receivers/{receiver}", body), True)


@receivers.command("rotate")
@click.argument("receiver")
@json_option
@click.pass_obj
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
@click.pass_obj
def receivers_delete(state: State, receiver: str) -> None:
    state.client.delete(f"/v1/receivers/{receiver}")
    click.echo(f"receiver {receiver} deleted")


@receivers.command("trigger")
@click.argument("url_or_key")
@click.option("--data", "-d", help="body to send; @FILE reads a file, @- standard input")
@click.option("--header", "-H", "headers", multiple=True, metavar="NAME:VALUE")
@json_option
@click.pass_obj
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


# services ------------------------------------------------------------------------


@cli.group()
def services() -> None:
    """See and scale the services of every backend."""


@services.command("list")
@click.option("--selector", "-l", help="labels, e.g. tier=front")
@json_option
@click.pass_obj
def services_list(state: State, selector: str | None, as_json: bool) -> None:
    emit(state.client.get("/v1/services", selector=selector), as_json, SERVICE_COLUMNS)


@services.command("show")
@click.argument("service")
@json_option
@click.pass_obj
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
@click.pass_obj
def services_scale(state: State, service: str, replicas: int, as_json: bool) -> None:
    """Set a service's replica count (recorded in the audit trail)."""
    body = {"replicas": replicas}
    emit(state.client.post(f"/v1/services/{service}/scale", body), as_json, EXECUTION_COLUMNS)


# hosts ---------------------------------------------------------------------------

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
    from scalehook.cli.tables import size

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


@cli.group()
def hosts() -> None:
    """See, add and remove the Swarm's hosts (host groups are chosen by labels)."""


@hosts.command("list")
@click.option("--selector", "-l", help="labels, e.g. group=batch")
@json_option
@click.pass_obj
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
@click.pass_obj
def hosts_add(
    state: State, provider: str, labels: tuple[str, ...], name: str | None, as_json: bool
) -> None:
    """Make a host and wait until it is Ready in the Swarm."""
    body: dict[str, Any] = {
        "provider": provider,
        "labels": {k: str(v) for k, v in _settings(labels).items()},
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
@click.pass_obj
def hosts_remove(state: State, host: str, drain_timeout: str | None, as_json: bool) -> None:
    """Drain a host, then destroy it and remove it from the Swarm."""
    params = f"?drain_timeout={drain_timeout}" if drain_timeout else ""
    emit(state.client.delete(f"/v1/hosts/{host}{params}"), as_json, EXECUTION_COLUMNS)


# executions ----------------------------------------------------------------------


@cli.command()
@click.option("--receiver", "-r", help="receiver id or name")
@click.option("--service", "-s", help="service name or backend/name")
@click.option("--limit", "-n", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--follow", "-f", is_flag=True, help="keep printing new executions")
@click.option("--interval", type=float, default=1.0, help="poll interval with --follow")
@json_option
@click.pass_obj
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


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except ClientError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
