"""``scalehook rollouts``: rollouts running and recent, their control (pause, resume,
cancel, rollback), and a live progress line (``watch``, or ``show --follow``).

The progress line is plain text: on a terminal it is redrawn in place (batches done of
the phase under way, replicas ready and on the new image, the time it has taken); when
standard output is not a terminal (a pipe, a CI log) a line is printed each time it
changes, without the clock, so a log holds one line per step. ``watch`` ends with the
rollout and exits 0 if it ended ``upgraded``, 1 otherwise.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import click

from scalehook.cli.client import Client
from scalehook.cli.common import State, emit, emit_record, json_option, pass_state

ROLLOUT_COLUMNS = [
    ("ID", "id"),
    ("SERVICE", "service"),
    ("FROM", "from"),
    ("TO", "to"),
    ("STATE", "state"),
    ("BATCHES", "batches"),
    ("READY", "ready"),
    ("STARTED", "started_at"),
    ("BY", "by"),
    ("MESSAGE", "message"),
]


def _fraction(done: Any, total: Any) -> str:
    if done is None and total is None:
        return "-"
    return f"{'?' if done is None else done}/{'?' if total is None else total}"


def by(rollout: dict[str, Any]) -> str:
    """Who started it: the receiver, or ``api`` and the caller's address."""
    if rollout.get("receiver_name"):
        return str(rollout["receiver_name"])
    caller = rollout.get("caller")
    return f"{rollout['driver']} ({caller})" if caller else str(rollout["driver"])


def _row(rollout: dict[str, Any]) -> dict[str, Any]:
    running = rollout["status"] == "running"
    return {
        **rollout,
        "batches": _fraction(rollout["batches_done"], rollout["batches_total"]),
        "ready": _fraction(rollout["replicas_ready"], rollout["replicas_desired"])
        if running
        else "-",
        "by": by(rollout),
    }


def elapsed(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def progress_line(rollout: dict[str, Any], *, clock: bool = True) -> str:
    """One line of a rollout's progress: what it does now, batches, replicas, time."""
    state = rollout["state"]
    if state == "paused" and rollout.get("holding"):
        state = f"paused (holds {rollout['holding']})"
    parts = [
        f"rollout {rollout['id']}",
        str(rollout["service"]),
        f"{rollout['from']} -> {rollout['to']}",
        state,
    ]
    if rollout["status"] == "running":
        total = rollout["batches_total"]
        done = rollout["batches_done"]
        phase = "back " if rollout["phase"] == "rolling_back" else ""
        bar = ""
        if total:
            filled = round(10 * min(done, total) / total)
            bar = f" [{'#' * filled}{'.' * (10 - filled)}]"
        parts.append(f"{phase}batch {_fraction(done, total)}{bar}")
        parts.append(f"ready {_fraction(rollout['replicas_ready'], rollout['replicas_desired'])}")
        if rollout["replicas_on_target"] is not None:
            target = rollout["heading"] or rollout["to"]
            on = _fraction(rollout["replicas_on_target"], rollout["replicas_desired"])
            parts.append(f"on {target} {on}")
    else:
        parts.append(str(rollout["message"]))
    if clock:
        parts.append(elapsed(float(rollout["elapsed_seconds"])))
    return "  ".join(parts)


def follow(client: Client, rollout_id: int, *, interval: float, out: TextIO) -> dict[str, Any]:
    """Show a rollout's progress until it is done; return it as it ended."""
    tty = out.isatty()
    last = ""
    while True:
        rollout: dict[str, Any] = client.get(f"/v1/rollouts/{rollout_id}")
        done = rollout["status"] == "done"
        if tty:
            out.write("\r" + progress_line(rollout) + "\x1b[K")
            if done:
                out.write("\n")
            out.flush()
        else:
            line = progress_line(rollout, clock=False)
            if line != last:
                out.write(f"{progress_line(rollout)}\n" if done else f"{line}\n")
                out.flush()
                last = line
        if done:
            return rollout
        time.sleep(interval)


def watch_and_exit(state: State, rollout_id: int, interval: float) -> None:
    ended = follow(state.client, rollout_id, interval=interval, out=sys.stdout)
    sys.exit(0 if ended["result"] == "upgraded" else 1)


interval_option = click.option(
    "--interval", type=click.FloatRange(0.05, 60), default=0.5, show_default=True,
    help="seconds between two looks",
)  # fmt: skip


@click.group()
def rollouts() -> None:
    """Rollouts running and recent; pause, resume, cancel or roll one back."""


@rollouts.command("list")
@click.option("--service", "-s", help="service name or backend/name")
@click.option("--running", "status", flag_value="running", help="only rollouts running")
@click.option("--done", "status", flag_value="done", help="only rollouts done")
@click.option("--limit", "-n", type=click.IntRange(1, 500), default=20, show_default=True)
@json_option
@pass_state
def rollouts_list(
    state: State, service: str | None, status: str | None, limit: int, as_json: bool
) -> None:
    """Newest first: service, from, to, state, batches, replicas ready, when, by whom."""
    found = state.client.get("/v1/rollouts", service=service, status=status, limit=limit)
    emit(found if as_json else [_row(r) for r in found], as_json, ROLLOUT_COLUMNS)


@rollouts.command("show")
@click.argument("rollout_id", type=click.IntRange(min=0))
@click.option("--follow", "-f", is_flag=True, help="the live progress line, until it ends")
@interval_option
@json_option
@pass_state
def rollouts_show(
    state: State, rollout_id: int, follow: bool, interval: float, as_json: bool
) -> None:
    """A rollout's fields (with --follow: its progress until it ends, as ``watch``)."""
    if follow:
        watch_and_exit(state, rollout_id, interval)
    emit_record(state.client.get(f"/v1/rollouts/{rollout_id}"), as_json)


@rollouts.command("watch")
@click.argument("rollout_id", type=click.IntRange(min=0))
@interval_option
@pass_state
def rollouts_watch(state: State, rollout_id: int, interval: float) -> None:
    """A live progress line until the rollout ends; exit 0 if it ended upgraded."""
    watch_and_exit(state, rollout_id, interval)


def _control(name: str, doc: str) -> None:
    @rollouts.command(name, help=doc)
    @click.argument("rollout_id", type=click.IntRange(min=0))
    @click.option("--watch", "-w", is_flag=True, help="then show its progress until it ends")
    @interval_option
    @json_option
    @pass_state
    def command(state: State, rollout_id: int, watch: bool, interval: float, as_json: bool) -> None:
        answer = state.client.post(f"/v1/rollouts/{rollout_id}/{name}")
        if as_json:
            emit(answer, True)
        else:
            click.echo(progress_line(answer, clock=False))
        if watch:
            watch_and_exit(state, rollout_id, interval)


_control("pause", "Hold the rollout before its next batch (kept across a restart).")
_control("resume", "Let a paused rollout go on.")
_control("cancel", "Stop the rollout now, each replica left on one version.")
_control("rollback", "Turn the rollout around now, back to the previous image.")


command = rollouts
