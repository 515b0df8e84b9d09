"""The CLI, run as a real command against a real server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from scalehook.testing import ServerProcess
from tests.conftest import ServerFactory, web_service


def run(
    server: ServerProcess, *args: str, ok: bool = True, token: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCALEHOOK_")}
    env.update(SCALEHOOK_URL=server.url, XDG_CONFIG_HOME=str(server.workdir / "cli-config"))
    if token:
        env["SCALEHOOK_TOKEN"] = server.token
    done = subprocess.run(
        [sys.executable, "-m", "scalehook", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def test_receiver_lifecycle_through_the_cli(web_server: ServerProcess) -> None:
    created = json.loads(
        run(
            web_server,
            "receivers",
            "create",
            "cli-up",
            "--service",
            "web",
            "--action",
            "up",
            "--amount",
            "1",
            "--max",
            "2",
            "--json",
        ).stdout
    )
    assert created["url"].startswith(web_server.url + "/v1/hooks/")
    table = run(web_server, "receivers", "list").stdout
    assert "cli-up" in table and "scaleService" in table
    assert created["url"] not in table
    shown = json.loads(run(web_server, "receivers", "show", "cli-up", "--json").stdout)
    assert shown["config"]["max"] == 2

    fired = json.loads(run(web_server, "receivers", "trigger", created["url"], "--json").stdout)
    assert fired["receiver_name"] == "cli-up"
    assert fired["result"] in ("scaled", "noop")

    updated = json.loads(
        run(
            web_server, "receivers", "update", "cli-up", "--set", "max=3", "--disable", "--json"
        ).stdout
    )
    assert (updated["config"]["max"], updated["enabled"]) == (3, False)
    refused = run(web_server, "receivers", "trigger", created["url"], ok=False)
    assert refused.returncode == 1 and "404" in refused.stderr

    rotated = run(web_server, "receivers", "rotate", "cli-up").stdout
    new_url = rotated.strip().splitlines()[-1]
    assert new_url != created["url"] and new_url.startswith(web_server.url)

    run(web_server, "receivers", "delete", "cli-up")
    missing = run(web_server, "receivers", "show", "cli-up", ok=False)
    assert missing.returncode == 1 and "no receiver named 'cli-up'" in missing.stderr


def test_receivers_show_and_update_print_a_readable_record_or_json_with_the_flag(
    web_server: ServerProcess,
) -> None:
    run(
        web_server, "receivers", "create", "cli-view", "--service", "web", "--action", "up",
        "--max", "4", "--cooldown-up", "2m", "--match", "severity=page",
    )  # fmt: skip
    shown = run(web_server, "receivers", "show", "cli-view").stdout
    with pytest.raises(ValueError, match="Expecting value"):
        json.loads(shown)
    lines = shown.splitlines()
    assert re.fullmatch(r"name:\s+cli-view", lines[1]), shown  # after the id
    for line in (r"driver:\s+scaleService", r"enabled:\s+yes", r"paused:\s+no"):
        assert any(re.fullmatch(line, text) for text in lines), (line, shown)
    # the config last, nested readably: a block under "config:", its own objects deeper
    config = lines.index("config:")
    assert all(not text.startswith(" ") for text in lines[:config])
    block = lines[config + 1 :]
    assert all(text.startswith("  ") for text in block), shown
    assert re.fullmatch(r"  service:\s+web", block[0]), shown
    assert any(re.fullmatch(r"  max:\s+4", text) for text in block), shown
    cooldown = block.index("  cooldown:")
    assert re.fullmatch(r"    up:\s+120", block[cooldown + 1]), shown  # seconds, as stored
    assert "{" not in shown and '"' not in shown

    as_json = json.loads(run(web_server, "receivers", "show", "cli-view", "--json").stdout)
    assert as_json == web_server.client.get("/v1/receivers/cli-view").json()

    paused = run(web_server, "receivers", "update", "cli-view", "--pause").stdout
    assert any(re.fullmatch(r"paused:\s+yes", text) for text in paused.splitlines()), paused
    assert "  service: web" in paused.splitlines()
    updated = json.loads(
        run(web_server, "receivers", "update", "cli-view", "--set", "max=5", "--json").stdout
    )
    assert (updated["paused"], updated["config"]["max"]) == (True, 5)
    run(web_server, "receivers", "delete", "cli-view")


def test_services_and_executions_through_the_cli(make_server: ServerFactory) -> None:
    server = make_server({"services": {"web": web_service(replicas=1)}})
    listed = json.loads(run(server, "services", "list", "--json").stdout)
    assert [(s["ref"], s["desired"]) for s in listed] == [("local/web", 1)]
    scaled = json.loads(run(server, "services", "scale", "web", "2", "--json").stdout)
    assert (scaled["before"], scaled["after"], scaled["driver"]) == (1, 2, "api")
    server.wait_for("web", ready=2)
    shown = run(server, "services", "show", "web").stdout
    assert "web-1" in shown and "web-2" in shown and "ready" in shown
    history = run(server, "executions", "--service", "web").stdout
    assert "scaled from 1 to 2" in history
    as_json = json.loads(run(server, "executions", "--json", "--limit", "1").stdout)
    assert len(as_json) == 1


def test_errors_are_one_clear_line(web_server: ServerProcess) -> None:
    no_token = run(web_server, "receivers", "list", ok=False, token=False)
    assert no_token.returncode == 1
    assert "401" in no_token.stderr and "Traceback" not in no_token.stderr
    bad = run(
        web_server,
        "receivers",
        "create",
        "bad",
        "--service",
        "web",
        "--action",
        "up",
        "--amount",
        "0",
        ok=False,
    )
    assert "config.amount" in bad.stderr and "Traceback" not in bad.stderr
    unreachable = subprocess.run(
        [sys.executable, "-m", "scalehook", "--url", "http://127.0.0.1:9", "receivers", "list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unreachable.returncode == 1 and "cannot reach scalehook" in unreachable.stderr


def test_first_start_generates_a_token_into_the_data_dir_never_printed_and_saves_it_for_the_cli(
    tmp_path: Path,
) -> None:
    server = ServerProcess(tmp_path / "gen", {"services": {}})
    env = server.env()
    del env["SCALEHOOK_ADMIN_TOKEN"]
    server.env = lambda: env  # type: ignore[method-assign]
    server.start()
    token_file = tmp_path / "gen" / "data" / "admin-token"
    client_file = tmp_path / "gen" / "config-home" / "scalehook" / "client.json"
    try:
        token = json.loads(client_file.read_text())["token"]
        assert token_file.read_text() == token + "\n"
        assert token_file.stat().st_mode & 0o777 == 0o600
        assert client_file.stat().st_mode & 0o077 == 0
        # the log (stdout and stderr both) says where the token is, never what it is
        assert token not in server.log()
        assert token[8:40] not in server.log()
        assert f"generated an admin token: it is in {token_file} (mode 0600)" in server.log()
        cli_env = {k: v for k, v in env.items() if not k.startswith("SCALEHOOK_")}
        done = subprocess.run(
            [sys.executable, "-m", "scalehook", "receivers", "list", "--json"],
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == []
        db = (tmp_path / "gen" / "data" / "scalehook.db").read_bytes()
        assert token.encode() not in db
    finally:
        server.stop()
    before = server.log()
    server.start()  # the second start keeps the stored hash and generates nothing
    try:
        assert "generated an admin token" not in server.log()[len(before) :]
        assert token_file.read_text() == token + "\n"
        assert (
            server.client.get(
                "/v1/receivers", headers={"Authorization": f"Bearer {token}"}
            ).status_code
            == 200
        )
    finally:
        server.close()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("services: {web: {replicas: 1}}", "services.web.command"),
        ("services: {web: {command: x, replicas: -1}}", "services.web.replicas"),
        ("backend: kubernetes", "backend"),
        ("services: [1, 2", "not valid YAML"),
    ],
)
def test_a_bad_config_stops_serve_with_a_clear_message(
    tmp_path: Path, config: str, message: str
) -> None:
    path = tmp_path / "scalehook.yaml"
    path.write_text(config)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "scalehook",
            "serve",
            "-c",
            str(path),
            "--data-dir",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert message in done.stderr and "Traceback" not in done.stderr
