"""Configuration from the environment, for real: ``scalehook config check`` and a
``scalehook serve`` configured by ``SCALEHOOK_*`` variables and ``_FILE`` secrets."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import yaml

from scalehook.testing import free_port, stop_process, wait_until
from tests.conftest import EXAMPLE_APP


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCALEHOOK_")}
    env.update(extra)
    return env


def check(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scalehook", "config", "check", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_config_check_prints_the_effective_settings_with_secrets_masked(tmp_path: Path) -> None:
    password = "pw-" + secrets.token_hex(8)
    cloud_secret = "cloud-" + secrets.token_hex(8)
    (tmp_path / "cloud_secret").write_text(cloud_secret + "\n")
    (tmp_path / "scalehook.yaml").write_text(
        f"database: postgresql+asyncpg://app:{password}@db/scalehook\n"
        "server: {port: 7000}\n"
        "hosts: {providers: {libcloud: {driver: dummy}}}\n"
    )
    env = clean_env(
        SCALEHOOK_SERVER__PORT="9000",
        SCALEHOOK_HOOKS__RATE="5",
        SCALEHOOK_BACKENDS__SWARM__TYPE="swarm",
        SCALEHOOK_HOSTS__PROVIDERS__LIBCLOUD__SECRET_FILE=str(tmp_path / "cloud_secret"),
        SCALEHOOK_URL="http://127.0.0.1:1",  # the CLI's: not a setting
        SCALEHOOK_TOKEN="x" * 20,
    )
    done = check(env=env, cwd=tmp_path)  # ./scalehook.yaml by default
    assert done.returncode == 0, done.stderr
    shown = yaml.safe_load(done.stdout)
    assert shown["server"]["port"] == 9000
    assert shown["hooks"]["rate"] == 5.0
    assert shown["backends"] == {"swarm": {"type": "swarm", "docker_host": None,
                                           "docker_tls": None, "timeout": 30.0}}  # fmt: skip
    assert shown["database"] == "postgresql+asyncpg://app:***@db/scalehook"
    assert shown["hosts"]["providers"]["libcloud"]["secret"] == "***"
    for secret in (password, cloud_secret):
        assert secret not in done.stdout + done.stderr


def test_config_check_lists_every_problem_with_its_line_or_variable(tmp_path: Path) -> None:
    path = tmp_path / "scalehook.yaml"
    path.write_text(
        "services:\n"
        "  web:\n"
        "    command: [python3, app.py]\n"
        "    replicas: lots\n"
        "log_level: verbose\n"
    )
    token_file = tmp_path / "missing-token"
    env = clean_env(
        SCALEHOOK_SEVRER__PORT="9000",
        SCALEHOOK_HOOKS__BURST="0",
        SCALEHOOK_ADMIN_TOKEN_FILE=str(token_file),
    )
    done = check("-c", str(path), env=env, cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()

    def said(start: str) -> bool:
        return any(line.startswith(start) for line in lines)

    assert said(f"{path}:4: services.web.replicas: Input should be a valid integer")
    assert said(f"{path}:5: log_level: 'verbose' is not a log level")
    assert "SCALEHOOK_SEVRER__PORT: sevrer: not a setting" in lines
    assert said("SCALEHOOK_HOOKS__BURST: hooks.burst: Input should be")
    assert said(f"SCALEHOOK_ADMIN_TOKEN_FILE={token_file}")
    assert done.stdout == ""


def test_serve_configured_from_the_environment(tmp_path: Path) -> None:
    """No file but the admin token's: the port, the data dir, the database (as a
    _FILE secret) and a rate limit, all from variables; the file's port loses to them."""
    port = free_port()
    token = secrets.token_urlsafe(24)
    (tmp_path / "token").write_text(token + "\n")
    database = tmp_path / "elsewhere" / "store.db"
    database.parent.mkdir()
    (tmp_path / "db-url").write_text(f"sqlite+aiosqlite:///{database}\n")
    (tmp_path / "scalehook.yaml").write_text(f"server: {{port: {free_port()}}}\nservices: {{}}\n")
    service = {"command": [sys.executable, str(EXAMPLE_APP), "{port}"], "port": free_port()}
    env = clean_env(
        SCALEHOOK_SERVICES=json.dumps({"web": service}),
        SCALEHOOK_SERVER__PORT=str(port),
        SCALEHOOK_DATA_DIR=str(tmp_path / "data"),
        SCALEHOOK_DATABASE_FILE=str(tmp_path / "db-url"),
        SCALEHOOK_HOOKS__RATE="0.01",
        SCALEHOOK_HOOKS__BURST="1",
        SCALEHOOK_ADMIN_TOKEN_FILE=str(tmp_path / "token"),
        SCALEHOOK_URL="http://127.0.0.1:1",
        XDG_CONFIG_HOME=str(tmp_path / "config-home"),
    )
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(
        [sys.executable, "-m", "scalehook", "serve"],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert process.poll() is None, (tmp_path / "serve.log").read_text()
        try:
            return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(healthy, timeout=90, what="scalehook on the port the environment gave")
        auth = {"Authorization": f"Bearer {token}"}
        created = httpx.post(
            f"{url}/v1/receivers",
            headers=auth,
            json={
                "name": "r",
                "driver": "scaleService",
                "config": {"service": "web", "action": "up"},
            },
            timeout=30,
        )
        assert created.status_code == 201, created.text  # the token from the _FILE variable
        hook = created.json()["url"]
        assert httpx.post(hook, timeout=30).status_code == 200
        assert httpx.post(hook, timeout=30).status_code == 429  # burst 1, from the environment
        assert database.exists()  # the store is where the secret file's URL says
        assert (tmp_path / "data" / "scalehook.pid").exists()  # the data dir's lock
    finally:
        stop_process(process)
