"""``scalehook config check``: the settings scalehook would run with, or what is wrong.

It reads what ``serve`` reads (the file, then the ``SCALEHOOK_*`` variables and their
``_FILE`` files, then the admin token's variables) and prints the effective settings as
YAML with every secret masked, or every problem with the line or variable it came from.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click


@click.group()
def config() -> None:
    """Check scalehook.yaml and the environment before serving."""


@config.command("check")
@click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="scalehook.yaml (default: ./scalehook.yaml if present)",
)
def config_check(config_path: Path | None) -> None:
    """Print the effective settings (secrets masked), or every problem; exit 1 on problems."""
    import yaml

    from scalehook.auth import configured_token
    from scalehook.config import ConfigError, effective, read_settings

    if config_path is None and Path("scalehook.yaml").exists():
        config_path = Path("scalehook.yaml")
    settings, problems = read_settings(config_path)
    try:
        configured_token(os.environ)
    except ConfigError as exc:
        problems.append(exc.message)
    if settings is None or problems:
        for problem in problems:
            click.echo(problem, err=True)
        sys.exit(1)
    click.echo(yaml.safe_dump(effective(settings), sort_keys=False), nl=False)


command = config
