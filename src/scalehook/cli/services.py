"""``scalehook services``: see, scale, upgrade and roll back the services of every
backend, set their CPU and memory limits, and see their revisions."""

from __future__ import annotations

from typing import Any

import click

from scalehook.cli.common import State, emit, json_option, pass_state
from scalehook.cli.executions import EXECUTION_COLUMNS
from scalehook.cli.rollouts import interval_option, watch_and_exit

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


REVISION_COLUMNS = [
    ("REVISION", "number"),
    ("IMAGE", "image"),
    ("OUTCOME", "outcome"),
    ("LIVE", "live"),
    ("WHEN", "created_at"),
    ("DRIVER", "driver"),
    ("BY", "receiver_name"),
    ("EXECUTION", "execution_id"),
    ("REASON", "reason"),
]


@click.group()
def services() -> None:
    """See, scale, upgrade and roll back the services of every backend."""


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


RESOURCES_COLUMNS = [
    ("CPUS", "cpus"),
    ("MEMORY", "memory_text"),
    ("ENFORCED", "enforced"),
    ("NOTE", "note"),
]
NO_LIMIT = ("none", "null", "unlimited")


def _limit(text: str | None) -> str | float | None:
    """An option's value as the API takes it: ``none`` removes the limit (JSON null)."""
    if text is None or text.strip().lower() in NO_LIMIT:
        return None
    try:
        return float(text)
    except ValueError:
        return text  # the server names what is wrong with it


@services.command("resources")
@click.argument("service")
@click.option("--cpus", help="cores per replica, e.g. 0.5; 'none' removes the limit")
@click.option("--memory", help="per replica: 256Mi, 1Gi, 512M or bytes; 'none' removes it")
@json_option
@pass_state
def services_resources(
    state: State, service: str, cpus: str | None, memory: str | None, as_json: bool
) -> None:
    """Show a service's CPU and memory limits, or set them with --cpus/--memory (a
    limit not given stays; recorded in the audit trail)."""
    if cpus is None and memory is None:
        detail = state.client.get(f"/v1/services/{service}")
        found = detail.get("resources")
        if found is None:
            raise click.ClickException(f"the limits of {service} cannot be read now")
        emit(found, as_json, RESOURCES_COLUMNS)
        return
    body: dict[str, object] = {}
    if cpus is not None:
        cores = _limit(cpus)
        body["cpus"] = cores
    if memory is not None:
        amount = _limit(memory)
        body["memory"] = int(amount) if isinstance(amount, float) else amount
    done = state.client.post(f"/v1/services/{service}/resources", body)
    if as_json:
        emit(done, True)
        return
    emit(done, False, EXECUTION_COLUMNS)
    applied = (done.get("details") or {}).get("applied")
    if applied:
        click.echo(applied)


@services.command("revisions")
@click.argument("service")
@json_option
@pass_state
def services_revisions(state: State, service: str, as_json: bool) -> None:
    """A service's revisions, oldest first: each change of its image, why, and its outcome."""
    emit(state.client.get(f"/v1/services/{service}/revisions"), as_json, REVISION_COLUMNS)


def strategy_options(func: Any) -> Any:
    """The rollout's strategy; what is not given takes the serviceUpgrade default."""
    options = [
        click.option("--batch-size", type=click.IntRange(1, 1000), help="replicas at a time (1)"),
        click.option("--batch-interval", help="wait between batches, e.g. 2s (2s)"),
        click.option(
            "--start-first/--stop-first", default=None, help="start new replicas first (no)"
        ),
        click.option("--health-timeout", help="a batch must be ready within this (60s)"),
        click.option("--on-failure", type=click.Choice(["rollback", "pause"]), help="(rollback)"),
        click.option("--watch", "-w", is_flag=True, help="then show its progress until it ends"),
        interval_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _strategy(
    batch_size: int | None,
    batch_interval: str | None,
    start_first: bool | None,
    health_timeout: str | None,
    on_failure: str | None,
) -> dict[str, Any]:
    given = {
        "batch_size": batch_size,
        "batch_interval": batch_interval,
        "start_first": start_first,
        "health_timeout": health_timeout,
        "on_failure": on_failure,
    }
    return {k: v for k, v in given.items() if v is not None}


def _started(
    state: State, answer: dict[str, Any], *, as_json: bool, watch: bool, interval: float
) -> None:
    emit(answer, as_json, EXECUTION_COLUMNS)
    rollout = answer["details"].get("rollout_id")
    if rollout is None:
        return
    if not as_json:
        click.echo(f"rollout {rollout}: scalehook rollouts watch {rollout}")
    if watch:
        watch_and_exit(state, int(rollout), interval)


@services.command("upgrade")
@click.argument("service")
@click.argument("image")
@strategy_options
@json_option
@pass_state
def services_upgrade(
    state: State,
    service: str,
    image: str,
    batch_size: int | None,
    batch_interval: str | None,
    start_first: bool | None,
    health_timeout: str | None,
    on_failure: str | None,
    watch: bool,
    interval: float,
    as_json: bool,
) -> None:
    """Roll a service onto IMAGE (repo:tag of the repository it runs), batch by batch,
    health-gated, as a push would; recorded with driver api."""
    strategy = _strategy(batch_size, batch_interval, start_first, health_timeout, on_failure)
    answer = state.client.post(
        f"/v1/services/{service}/upgrade", {"image": image, "strategy": strategy}
    )
    _started(state, answer, as_json=as_json, watch=watch, interval=interval)


@services.command("rollback")
@click.argument("service")
@click.option("--revision", "-r", type=click.IntRange(min=1), help="default: the previous one")
@strategy_options
@json_option
@pass_state
def services_rollback(
    state: State,
    service: str,
    revision: int | None,
    batch_size: int | None,
    batch_interval: str | None,
    start_first: bool | None,
    health_timeout: str | None,
    on_failure: str | None,
    watch: bool,
    interval: float,
    as_json: bool,
) -> None:
    """Roll a service back to a revision (default: the newest that succeeded with another
    image than the one it runs), through the same path as an upgrade."""
    body: dict[str, Any] = {
        "strategy": _strategy(batch_size, batch_interval, start_first, health_timeout, on_failure)
    }
    if revision is not None:
        body["revision"] = revision
    answer = state.client.post(f"/v1/services/{service}/rollback", body)
    _started(state, answer, as_json=as_json, watch=watch, interval=interval)


command = services
