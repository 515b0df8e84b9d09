"""``SCALEHOOK_ADMIN_TOKEN_FILE``: the admin token read from a file (a Docker or systemd
secret), by a real ``scalehook serve`` and by the CLI; a bad file stops the start."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from scalehook.auth import configured_token
from scalehook.config import ConfigError
from scalehook.testing import ServerProcess, free_port


def token_file(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "admin_token"
    path.write_text(content)
    path.chmod(0o600)
    return path


def test_the_token_is_the_files_content_stripped(tmp_path: Path) -> None:
    token = secrets.token_urlsafe(24)
    path = token_file(tmp_path, f"  {token}\n\n")
    assert configured_token({"SCALEHOOK_ADMIN_TOKEN_FILE": str(path)}) == token
    assert configured_token({"SCALEHOOK_ADMIN_TOKEN": token}) == token
    assert configured_token({}) is None
    assert configured_token({"SCALEHOOK_ADMIN_TOKEN_FILE": ""}) is None  # unset, as env goes


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "cannot read the admin token: No such file or directory"),
        ("\n  \n", "the file is empty"),
        ("short\n", "at least 16 characters"),
    ],
)
def test_a_bad_token_file_is_a_config_error(tmp_path: Path, content: str | None, says: str) -> None:
    path = tmp_path / "admin_token"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError) as raised:
        configured_token({"SCALEHOOK_ADMIN_TOKEN_FILE": str(path)})
    assert says in raised.value.message
    assert str(path) in raised.value.message


def test_both_variables_at_once_are_refused(tmp_path: Path) -> None:
    path = token_file(tmp_path, secrets.token_urlsafe(24))
    with pytest.raises(ConfigError, match="not both"):
        configured_token(
            {"SCALEHOOK_ADMIN_TOKEN_FILE": str(path), "SCALEHOOK_ADMIN_TOKEN": "x" * 20}
        )


def file_env(server: ServerProcess, path: Path) -> dict[str, str]:
    env = {k: v for k, v in server.env().items() if k != "SCALEHOOK_ADMIN_TOKEN"}
    env["SCALEHOOK_ADMIN_TOKEN_FILE"] = str(path)
    return env


def test_serve_takes_the_token_from_the_file_and_the_cli_does_too(tmp_path: Path) -> None:
    token = secrets.token_urlsafe(24)
    path = token_file(tmp_path, token + "\n")
    server = ServerProcess(tmp_path / "server", {"services": {}}, token=token)
    env = file_env(server, path)
    server.env = lambda: env  # type: ignore[method-assign]
    with server:
        assert server.client.get("/v1/receivers").status_code == 200  # Bearer <token>
        wrong = httpx.get(
            f"{server.url}/v1/receivers", headers={"Authorization": f"Bearer {token}x"}
        )
        assert wrong.status_code == 401
        assert token not in server.log()  # not printed: it was given, not generated
        cli_env = {k: v for k, v in os.environ.items() if not k.startswith("SCALEHOOK_")}
        cli_env.update(
            SCALEHOOK_URL=server.url,
            SCALEHOOK_ADMIN_TOKEN_FILE=str(path),
            XDG_CONFIG_HOME=str(tmp_path / "cli-config"),
        )
        done = subprocess.run(
            [sys.executable, "-m", "scalehook", "receivers", "list", "--json"],
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("problem", ["missing", "unreadable", "both"])
def test_serve_stops_at_start_on_a_bad_token_file(tmp_path: Path, problem: str) -> None:
    server = ServerProcess(tmp_path / "server", {"services": {}})
    path = tmp_path / "admin_token"
    if problem != "missing":
        path.write_text(secrets.token_urlsafe(24))
    env = file_env(server, path)
    if problem == "unreadable":
        path.chmod(0)
        if os.geteuid() == 0:  # root reads anything: a directory cannot be read as a file
            path.unlink()
            path.mkdir()
    if problem == "both":
        env["SCALEHOOK_ADMIN_TOKEN"] = secrets.token_urlsafe(24)
    server.workdir.mkdir(parents=True)
    config = server.workdir / "scalehook.yaml"
    config.write_text("services: {}\n")
    command = [sys.executable, "-m", "scalehook", "serve", "-c", str(config)]
    done = subprocess.run(
        [*command, "--port", str(free_port()), "--data-dir", str(server.data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "SCALEHOOK_ADMIN_TOKEN_FILE" in done.stderr
    expected = {
        "missing": "No such file or directory",
        "unreadable": "Is a directory" if os.geteuid() == 0 else "Permission denied",
        "both": "not both",
    }[problem]
    assert expected in done.stderr
    assert not (server.data_dir / "scalehook.db").exists()  # stopped before the store opened
