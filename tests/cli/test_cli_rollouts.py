"""``scalehook rollouts`` and ``services upgrade|rollback|revisions``, run as real commands
against a real server rolling real processes; the progress display is read as printed,
through a pipe (a line per change) and on a terminal (one line redrawn)."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
from typing import Any

from scalehook.testing import ServerProcess, wait_until
from tests.cli.test_cli import run
from tests.conftest import ServerFactory
from tests.upgrades.helpers import finished, holding, release_service, settled_versions

STARTED = re.compile(r"^rollout (\d+): scalehook rollouts watch \1$", re.MULTILINE)


def cli_env(server: ServerProcess) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCALEHOOK_")}
    env.update(
        SCALEHOOK_URL=server.url,
        SCALEHOOK_TOKEN=server.token,
        XDG_CONFIG_HOME=str(server.workdir / "cli-config"),
    )
    return env


def start_upgrade(server: ServerProcess, tag: str, *options: str) -> int:
    printed = run(server, "services", "upgrade", "web", f"acme/app:{tag}", *options).stdout
    match = STARTED.search(printed)
    assert match is not None, printed
    assert "upgrading" in printed and "api" in printed  # the execution's row
    return int(match.group(1))


def test_watch_through_a_pipe_prints_a_line_per_change(make_server: ServerFactory) -> None:
    server = make_server({"services": {"web": release_service(replicas=3)}})
    server.wait_for("web", ready=3)
    ident = start_upgrade(server, "2", "--batch-interval", "2s", "--health-timeout", "10s")
    watched = subprocess.run(
        [sys.executable, "-m", "scalehook", "rollouts", "watch", str(ident), "--interval", "0.1"],
        env=cli_env(server),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert watched.returncode == 0, watched.stdout + watched.stderr  # it ended upgraded
    lines = watched.stdout.splitlines()
    assert "\r" not in watched.stdout and "\x1b" not in watched.stdout
    assert len(lines) == len(set(lines))  # a line only when something changed
    assert all(
        line.startswith(f"rollout {ident}  local/web  acme/app:1 -> acme/app:2") for line in lines
    )
    shown = [re.search(r"batch (\d)/3", line) for line in lines[:-1]]
    done = [int(m.group(1)) for m in shown if m is not None]
    assert done == sorted(done) and len(lines) >= 2, lines  # batches counted as they end
    assert any("ready 3/3" in line for line in lines), lines
    assert any(re.search(r"on acme/app:2 [0-3]/3", line) for line in lines), lines
    last = lines[-1]
    assert "  upgraded  " in last and "3 replica(s) run acme/app:2" in last
    assert re.search(r"\d+:\d\d$", last)  # the time it took
    assert settled_versions(server, "web", 3) == ["2", "2", "2"]


def test_watch_on_a_terminal_redraws_one_line(make_server: ServerFactory) -> None:
    server = make_server({"services": {"web": release_service(replicas=2)}})
    server.wait_for("web", ready=2)
    ident = start_upgrade(server, "2", "--batch-interval", "1s")
    leader, follower = pty.openpty()
    watcher = subprocess.Popen(
        [sys.executable, "-m", "scalehook", "rollouts", "watch", str(ident), "--interval", "0.1"],
        env=cli_env(server),
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=subprocess.PIPE,
    )
    os.close(follower)
    printed = b""
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], 60)
            assert ready, printed
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the command ended and closed the terminal
                break
            if not chunk:
                break
            printed += chunk
    finally:
        assert watcher.wait(timeout=60) == 0, watcher.stderr.read() if watcher.stderr else ""
        os.close(leader)
        if watcher.stderr:
            watcher.stderr.close()
    text = printed.decode().replace("\r\n", "\n")  # the terminal's own end of line
    redraws = text.split("\r")
    assert len(redraws) > 3, text  # the line was drawn again and again in place
    assert all(part.endswith("\x1b[K") or part.endswith("\x1b[K\n") for part in redraws[1:])
    assert text.count("\n") == 1 and text.endswith("\n")  # one line, ended once done
    assert "batch 1/2 [#####.....]" in text
    assert "  upgraded  " in redraws[-1]


def test_pause_resume_and_list_through_the_cli(make_server: ServerFactory) -> None:
    server = make_server({"services": {"web": release_service(replicas=3)}})
    server.wait_for("web", ready=3)
    ident = start_upgrade(server, "2", "--batch-interval", "6s")
    wait_until(
        lambda: server.client.get(f"/v1/rollouts/{ident}").json()["batches_done"] == 1,
        what="the first batch",
    )
    paused = run(server, "rollouts", "pause", str(ident)).stdout
    assert f"rollout {ident}  local/web" in paused and ("pausing" in paused or "paused" in paused)
    holding(server, ident)
    table = run(server, "rollouts", "list").stdout
    header, row = table.splitlines()[:2]
    assert header.split()[:6] == ["ID", "SERVICE", "FROM", "TO", "STATE", "BATCHES"]
    assert row.split()[:6] == [str(ident), "local/web", "acme/app:1", "acme/app:2", "paused", "1/3"]
    assert "api (127.0.0.1)" in row
    shown = run(server, "rollouts", "show", str(ident)).stdout
    assert re.search(r"^holding: +before batch 2/3$", shown, re.MULTILINE), shown
    run(server, "rollouts", "resume", str(ident))
    watched = run(server, "rollouts", "show", str(ident), "--follow", "--interval", "0.2")
    assert "  upgraded  " in watched.stdout.splitlines()[-1]

    refused = run(server, "rollouts", "pause", str(ident), ok=False)
    assert refused.returncode == 1
    assert "error: 409: rollout" in refused.stderr and "is done (upgraded)" in refused.stderr
    missing = run(server, "rollouts", "cancel", "9999", ok=False)
    assert missing.returncode == 1 and "error: 404: no rollout with id 9999" in missing.stderr


def test_rollback_and_revisions_through_the_cli(make_server: ServerFactory) -> None:
    server = make_server({"services": {"web": release_service(replicas=2)}})
    server.wait_for("web", ready=2)
    first = start_upgrade(server, "2", "--batch-interval", "0s", "--watch", "--interval", "0.2")
    assert first  # --watch waited for it: it is done
    table = run(server, "services", "revisions", "web").stdout.splitlines()
    assert table[0].split()[:4] == ["REVISION", "IMAGE", "OUTCOME", "LIVE"]
    assert [line.split()[:4] for line in table[1:]] == [
        ["1", "acme/app:1", "initial", "no"],
        ["2", "acme/app:2", "upgraded", "yes"],
    ]
    rolled = run(server, "services", "rollback", "web", "--batch-interval", "0s", "--watch")
    assert "  upgraded  " in rolled.stdout.splitlines()[-1]
    assert "back on revision 1" in rolled.stdout
    assert settled_versions(server, "web", 2) == ["1", "1"]
    wrong = run(server, "services", "rollback", "web", "--revision", "7", ok=False)
    assert "error: 404: revision: local/web: there is no revision 7" in wrong.stderr
    failed = start_upgrade(server, "3", "--health-timeout", "2s")
    ended = subprocess.run(
        [sys.executable, "-m", "scalehook", "rollouts", "watch", str(failed)],
        env=cli_env(server),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ended.returncode == 1  # it did not end upgraded
    assert "  rolled_back  " in ended.stdout.splitlines()[-1]
    execution: dict[str, Any] = finished(
        server, server.client.get(f"/v1/rollouts/{failed}").json()["execution_id"]
    )
    assert execution["result"] == "rolled_back"
