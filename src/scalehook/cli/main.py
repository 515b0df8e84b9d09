"""The ``scalehook`` command line: the group and its global options; each resource's
commands live in a module of their own here (``receivers.py``, ``services.py``...),
shared helpers in ``common.py``.

A new resource is one module defining ``command`` (a click command or group) and its
name in ``RESOURCES``.
"""

from __future__ import annotations

import importlib
import sys

import click

from scalehook import __version__
from scalehook.cli.client import ClientError
from scalehook.cli.common import State

RESOURCES = (
    "serve",
    "config",
    "apply",
    "receivers",
    "policies",
    "services",
    "healthchecks",
    "rollouts",
    "nodes",
    "hosts",
    "executions",
    "notifications",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="scalehook")
@click.option("--url", envvar="SCALEHOOK_URL", help="server URL (env SCALEHOOK_URL)")
@click.option("--token", help="admin token (env SCALEHOOK_TOKEN)")
@click.pass_context
def cli(ctx: click.Context, url: str | None, token: str | None) -> None:
    """Elastic scaling driven by webhooks."""
    ctx.obj = State(url, token)


for _resource in RESOURCES:
    cli.add_command(importlib.import_module(f"scalehook.cli.{_resource}").command)


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
