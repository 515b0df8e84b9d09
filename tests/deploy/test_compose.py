"""scalehook's image run with ``deploy/compose.yml`` on plain Docker (Compose), scaling
another Compose service of the project through a trigger.

The Compose file is used as it is; the test chooses the project's name, a free port and
the token file (through the variables the file reads), and adds a second file with a
busybox web app.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scalehook.testing import free_port, wait_until
from tests.docker.conftest import WEB_IMAGE
from tests.docker.engine import TEST_LABEL, Engine

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "deploy" / "compose.yml"
SOCKET = "/var/run/docker.sock"

pytestmark = [pytest.mark.docker]


def compose_command() -> list[str]:
    """Compose v2 (``docker compose``) where the CLI has it, else ``docker-compose``."""
    plugin = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
    if plugin.returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("neither `docker compose` nor docker-compose (scripts/deps installs it)")


class Project:
    def __init__(self, files: list[Path], name: str, env: dict[str, str]) -> None:
        self.base = [*compose_command(), *(a for f in files for a in ("-f", str(f))), "-p", name]
        self.name = name
        self.env = {**os.environ, **env}

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [*self.base, *args], capture_output=True, text=True, timeout=300, env=self.env
        )
        assert done.returncode == 0, f"{' '.join(args)}: {done.stdout}\n{done.stderr}"
        return done.stdout


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def project(
    scalehook_image: str, images: None, engine: Engine, tmp_path: Path
) -> Iterator[Project]:
    name = f"shk{secrets.token_hex(3)}"
    token_path = tmp_path / "admin_token"
    token_path.write_text(secrets.token_urlsafe(32) + "\n")
    if os.geteuid() == 0:  # as the README says: readable by scalehook's uid only
        os.chown(token_path, 10001, -1)
        token_path.chmod(0o400)
    else:
        token_path.chmod(0o444)
    web_file = tmp_path / "web.yml"
    # The label lets the test remove every clone scalehook makes, whatever happens.
    web_file.write_text(
        f"services:\n  web:\n    image: {WEB_IMAGE}\n    labels:\n      {TEST_LABEL}: {name}\n"
    )
    env = {
        "DOCKER_GID": str(os.stat(SOCKET).st_gid),
        "SCALEHOOK_IMAGE": scalehook_image,
        "SCALEHOOK_PORT": str(free_port()),
        "SCALEHOOK_ADMIN_TOKEN_PATH": str(token_path),
    }
    deployed = Project([COMPOSE_FILE, web_file], name, env)
    try:
        yield deployed
    finally:
        engine.remove_everything(name)  # scalehook's clones of web
        deployed.run("down", "--volumes", "--remove-orphans")
        label = f"com.docker.compose.project={name}"
        assert not engine.containers(**{"com.docker.compose.project": name})
        volumes = engine.get("/volumes", filters=f'{{"label": ["{label}"]}}')["Volumes"]
        assert not volumes, volumes


@pytest.mark.timeout(1800)  # the first build of the image on a machine takes minutes
def test_the_image_with_compose_scales_another_compose_service(
    project: Project, engine: Engine
) -> None:
    project.run("up", "--detach", "--no-build")
    url = f"http://127.0.0.1:{project.env['SCALEHOOK_PORT']}"
    wait_until(lambda: answers(f"{url}/healthz"), timeout=120, interval=0.5, what="healthz")
    (row,) = engine.containers(
        **{"com.docker.compose.project": project.name, "com.docker.compose.service": "scalehook"}
    )
    container = engine.inspect(row["Id"])
    assert container["Config"]["User"] == "10001"
    assert container["HostConfig"]["GroupAdd"] == [project.env["DOCKER_GID"]]
    assert container["HostConfig"]["ReadonlyRootfs"] is True

    token = Path(project.env["SCALEHOOK_ADMIN_TOKEN_PATH"]).read_text().strip()
    web = f"{project.name}.web"
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as api:
        assert api.get(f"/v1/services/{web}").raise_for_status().json()["desired"] == 1
        created = api.post(
            "/v1/receivers",
            json={
                "name": "web-up",
                "driver": "scaleService",
                "config": {"service": web, "action": "up", "amount": 1, "max": 3},
            },
        )
        assert created.status_code == 201, created.text
        fired = httpx.post(created.json()["url"], timeout=60)
        assert fired.status_code == 200, fired.text
        assert (fired.json()["result"], fired.json()["after"]) == ("scaled", 2)

    def web_running() -> int:
        rows = engine.containers(
            **{"com.docker.compose.project": project.name, "com.docker.compose.service": "web"}
        )
        return sum(1 for r in rows if r["State"] == "running")

    wait_until(lambda: web_running() == 2, timeout=60, interval=0.5, what="2 web containers")
    wait_until(
        lambda: engine.inspect(row["Id"])["State"]["Health"]["Status"] == "healthy",
        timeout=120,
        interval=1,
        what="scalehook healthy",
    )
