"""Where the CLI finds the server and its token: the file ``serve`` writes on first start."""

from __future__ import annotations

import json
import os
from pathlib import Path


def client_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "scalehook" / "client.json"


def read_client_config() -> dict[str, str]:
    try:
        data = json.loads(client_config_path().read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


def write_client_config(url: str, token: str | None) -> Path:
    """Record the server URL (and, on first start, the generated token), mode 0600."""
    path = client_config_path()
    data = read_client_config()
    data["url"] = url
    if token is not None:
        data["token"] = token
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
    os.replace(tmp, path)
    return path
