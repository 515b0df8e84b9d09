"""``scalehook serve``: run the server (imported only when asked for: the client
commands stay light)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from scalehook.errors import ScalehookError


@click.command()
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
    from scalehook.logs import setup_logging
    from scalehook.server import serve as run

    if config_path is None and Path("scalehook.yaml").exists():
        config_path = Path("scalehook.yaml")
    try:
        settings = load_settings(config_path, host=host, port=port, data_dir=data_dir)
        setup_logging(settings.log_level, settings.log_format)
        asyncio.run(run(settings))
    except ScalehookError as exc:
        for line in getattr(exc, "problems", None) or (exc.message,):
            click.echo(f"scalehook: {line}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        pass


command = serve
