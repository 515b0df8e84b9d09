"""Fixtures for tests against a real Docker engine.

``scripts/engines`` makes sure the engine runs (and is a Swarm manager) before any test
here; if it cannot, every test here fails: these tests never skip. Test images are built
locally from Debian's static busybox, since no registry can be reached.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from scalehook.testing import ServerProcess
from tests.docker.apps import APP, BUSYBOX, VERSIONS, build_apps
from tests.docker.engine import Engine
from tests.docker.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
WEB_IMAGE = "scalehook-test/web:1"
HEALTH_IMAGE = "scalehook-test/web-health:1"

# busybox httpd serves a page naming the container; SIGTERM stops it at once.
SERVE = (
    'mkdir -p /www; echo "hello from $(hostname)" > /www/index.html; '
    "httpd -f -p 8080 -h /www & trap 'kill $!; exit 0' TERM; wait"
)
WEB_DOCKERFILE = f"""FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
EXPOSE 8080
CMD {json.dumps(["sh", "-c", SERVE])}
"""
# Healthy when the page answers, unless the container is told NOT_READY.
PROBE = 'test -z "$NOT_READY" && wget -q -O /dev/null http://127.0.0.1:8080/'
HEALTH_DOCKERFILE = f"""FROM {WEB_IMAGE}
HEALTHCHECK --interval=1s --timeout=2s --retries=1 CMD {json.dumps(["sh", "-c", PROBE])}
"""


def build_images(engine: Engine) -> None:
    engine.build(WEB_IMAGE, WEB_DOCKERFILE, {"busybox": BUSYBOX})
    engine.build(HEALTH_IMAGE, HEALTH_DOCKERFILE, {})


@pytest.fixture(scope="session")
def session_prefix() -> str:
    """Labels what the whole session shares (networks), removed at its end."""
    return f"shk{secrets.token_hex(3)}"


@pytest.fixture(scope="session")
def engine(session_prefix: str) -> Iterator[Engine]:
    """The machine's Docker engine, started by ``scripts/engines`` if it was not running."""
    done = subprocess.run(
        [str(ROOT / "scripts" / "engines")], capture_output=True, text=True, timeout=900
    )
    if done.returncode != 0:
        pytest.fail(f"no Docker engine for the tests:\n{done.stderr}", pytrace=False)
    client = Engine()
    assert client.up()
    client.default_network = f"{session_prefix}-net"
    client.network(client.default_network, session_prefix)
    yield client
    client.remove_everything(session_prefix)
    client.close()


@pytest.fixture(scope="session")
def overlay(engine: Engine, session_prefix: str) -> str:
    """A swarm network for the tests' services (removed with the session's objects)."""
    name = f"{session_prefix}-overlay"
    engine.network(name, session_prefix, driver="overlay")
    return name


@pytest.fixture(scope="session")
def images(engine: Engine) -> None:
    build_images(engine)


@pytest.fixture(scope="session")
def apps(engine: Engine) -> None:
    """The versioned app of ``apps.py``: 1, 2 and 4 healthy, 3 failing its HEALTHCHECK."""
    build_apps(engine)


@pytest.fixture(scope="session")
def registry(engine: Engine, apps: None) -> Iterator[Registry]:
    """A registry on loopback with htpasswd auth, holding every version of ``apps.py``'s
    app as ``<registry>/scalehook-test/app:<n>``."""
    started = Registry().start()
    pushed = []
    try:
        for version in VERSIONS:
            # an image of its own (one more label), so the push's digest never sticks to
            # the app as built here, which other tests run without a pull
            own = f"{APP}-pushed:{version}"
            engine.build(own, f"FROM {APP}:{version}\nLABEL scalehook.test.pushed={version}\n", {})
            pushed.append(own)
            started.push(engine, own, APP, version)
        yield started
    finally:
        for image in pushed:
            engine.forget_registries(image, keep=set())
        started.close()


@pytest.fixture
def prefix(engine: Engine) -> Iterator[str]:
    """A unique name prefix for one test; everything labelled with it is removed after."""
    value = f"shk{secrets.token_hex(3)}"
    yield value
    engine.remove_everything(value)


def _server(
    tmp_path_factory: pytest.TempPathFactory, name: str, config: dict[str, object]
) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp(name), config)
    server.start()
    yield server
    server.close()


UNLIMITED = {"rate": 10000, "burst": 10000}


@pytest.fixture(scope="module")
def docker_server(
    tmp_path_factory: pytest.TempPathFactory, engine: Engine
) -> Iterator[ServerProcess]:
    """scalehook with ``backend: docker`` on the machine's engine."""
    yield from _server(tmp_path_factory, "docker-server", {"backend": "docker", "hooks": UNLIMITED})


@pytest.fixture(scope="module")
def swarm_server(
    tmp_path_factory: pytest.TempPathFactory, engine: Engine
) -> Iterator[ServerProcess]:
    """scalehook with ``backend: swarm`` on the machine's engine."""
    yield from _server(tmp_path_factory, "swarm-server", {"backend": "swarm", "hooks": UNLIMITED})
