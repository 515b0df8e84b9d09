"""Where registry credentials come from, in the docker CLI's order, with real files and
real credential helpers (small programs speaking the helper protocol)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from scalehook.backends.engine.registry_auth import HEADER, RegistryAuth, RegistryLogin


def helper(folder: Path, name: str, script: str) -> None:
    path = folder / f"docker-credential-{name}"
    path.write_text("#!/bin/sh\nread server\n" + script)
    path.chmod(0o755)


def decoded(headers: dict[str, str]) -> dict[str, str]:
    value: dict[str, str] = json.loads(base64.urlsafe_b64decode(headers[HEADER]))
    return value


@pytest.fixture
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Docker CLI config folder, and a folder on PATH for credential helpers."""
    folder = tmp_path / "docker"
    folder.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return folder


def write(folder: Path, config: object) -> None:
    (folder / "config.json").write_text(json.dumps(config))


async def test_the_docker_cli_config_in_its_order(docker_config: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    helper(bin_dir, "store", 'echo "{\\"Username\\": \\"from-store\\", \\"Secret\\": \\"s1\\"}"\n')
    helper(bin_dir, "ghcr", 'echo "{\\"Username\\": \\"<token>\\", \\"Secret\\": \\"tok\\"}"\n')
    helper(bin_dir, "none", 'echo "credentials not found in native keychain"; exit 1\n')
    plain = base64.b64encode(b"alice:pw:with:colons").decode()
    write(
        docker_config,
        {
            "auths": {
                "https://index.docker.io/v1/": {"auth": plain},
                "localhost:5000": {"username": "bob", "password": "pw2"},
                "quay.io": {"identitytoken": "idt"},
                "registry.example:8443": {"auth": base64.b64encode(b"carol:pw3").decode()},
            },
            "credHelpers": {"ghcr.io": "ghcr", "registry.example:8443": "none"},
        },
    )
    auth = RegistryAuth(env={"DOCKER_CONFIG": str(docker_config)})
    hub = decoded(await auth.headers("nginx:1.25"))  # docker.io, as the CLI names it
    assert hub == {
        "serveraddress": "https://index.docker.io/v1/",
        "username": "alice",
        "password": "pw:with:colons",
    }
    assert decoded(await auth.headers("localhost:5000/app:1"))["username"] == "bob"
    assert decoded(await auth.headers("quay.io/acme/app"))["identitytoken"] == "idt"
    assert decoded(await auth.headers("ghcr.io/acme/app:2")) == {
        "serveraddress": "ghcr.io",
        "identitytoken": "tok",
    }
    # a helper that has nothing for the registry: the file's auths
    assert decoded(await auth.headers("registry.example:8443/app"))["username"] == "carol"
    assert await auth.headers("elsewhere.example/app:1") == {}
    # credsStore covers every registry without a helper of its own
    write(docker_config, {"credsStore": "store", "auths": {"localhost:5000": {}}})
    assert decoded(await auth.headers("localhost:5000/app:1"))["username"] == "from-store"


async def test_scalehook_yaml_first_and_a_password_file_read_at_each_use(
    docker_config: Path, tmp_path: Path
) -> None:
    write(docker_config, {"auths": {"localhost:5000": {"username": "cli", "password": "x"}}})
    secret = tmp_path / "password"
    secret.write_text("pw-one-7f3\n")
    logins = {"localhost:5000": RegistryLogin(username="ops", password_file=secret)}
    auth = RegistryAuth(logins, env={"DOCKER_CONFIG": str(docker_config)})
    first = decoded(await auth.headers("localhost:5000/app:1"))
    assert (first["username"], first["password"]) == ("ops", "pw-one-7f3")
    secret.write_text("pw-two-9c1\n")
    assert decoded(await auth.headers("localhost:5000/app:1"))["password"] == "pw-two-9c1"
    assert "pw-one" not in repr(logins) and "pw-two" not in repr(auth)


async def test_a_failing_helper_goes_anonymous_and_logs_no_secret(
    docker_config: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    helper(tmp_path / "bin", "broken", 'echo "secret-ish output"; exit 3\n')
    write(docker_config, {"credHelpers": {"ghcr.io": "broken", "quay.io": "missing"}})
    auth = RegistryAuth(env={"DOCKER_CONFIG": str(docker_config)})
    assert await auth.headers("ghcr.io/acme/app") == {}
    assert await auth.headers("quay.io/acme/app") == {}
    assert "docker-credential-broken failed (exit status 3)" in caplog.text
    assert "cannot run docker-credential-missing" in caplog.text
    assert "secret-ish" not in caplog.text


def test_a_login_needs_one_password() -> None:
    with pytest.raises(ValueError, match="password or password_file"):
        RegistryLogin(username="ops")
    with pytest.raises(ValueError, match="password or password_file"):
        RegistryLogin(username="ops", password="x", password_file=Path("/x"))
