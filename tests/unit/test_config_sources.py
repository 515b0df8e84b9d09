"""Settings from the file, the environment and the command line: the precedence, the
``_FILE`` variables, and problems named by the line or the variable they came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from scalehook.config import ConfigError, effective, load_settings, read_settings
from scalehook.config_sources import RESERVED

FILE = """\
server:
  host: 127.0.0.2
  port: 7000
hooks:
  rate: 3
log_level: warning
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "scalehook.yaml"
    path.write_text(FILE)
    return path


def test_command_line_over_environment_over_file_over_defaults(config: Path) -> None:
    env = {"SCALEHOOK_SERVER__PORT": "8000", "SCALEHOOK_LOG_LEVEL": "ERROR"}
    settings = load_settings(config, env=env, port=9000)
    assert settings.server.port == 9000  # the command line
    assert settings.log_level == "error"  # the environment, over the file
    assert settings.server.host == "127.0.0.2"  # the file
    assert settings.hooks.burst == 40  # the default
    assert load_settings(config, env=env).server.port == 8000
    assert load_settings(config, env={}).server.port == 7000
    assert load_settings(None, env={}).server.port == 8085


def test_nested_names_and_values_read_as_yaml_or_as_text(tmp_path: Path) -> None:
    env = {
        "SCALEHOOK_HOOKS__RATE": "5",
        "SCALEHOOK_HOOKS__RECEIVERS": '{"alerts": {"rate": 100, "burst": 200}}',
        "SCALEHOOK_HOOKS__RECEIVERS__ALERTS__BURST": "300",  # deeper goes into it
        "SCALEHOOK_SERVER__TRUSTED_PROXIES": '["10.0.0.1"]',
        "SCALEHOOK_SERVER__HEADER_TIMEOUT": "1m30s",
        "SCALEHOOK_BACKENDS__SWARM__TYPE": "swarm",
        "SCALEHOOK_BACKENDS__SWARM__DOCKER_HOST": "tcp://manager:2376",
        "SCALEHOOK_BACKENDS__BOX__TYPE": "docker",
        "SCALEHOOK_BACKENDS__BOX__STOP_GRACE": "5",
        "SCALEHOOK_DATABASE": "postgresql+asyncpg://app:123456@db/scalehook",
        "SCALEHOOK_HOSTS__PROVIDERS__LIBCLOUD__DRIVER": "dummy",
        "SCALEHOOK_HOSTS__PROVIDERS__LIBCLOUD__KEY": "12345",  # text: stays "12345"
        "SCALEHOOK_DATA_DIR": str(tmp_path / "data"),
        "SCALEHOOK_EMPTY_IS_UNSET": "",
    }
    settings = load_settings(None, env=env)
    assert settings.hooks.rate == 5.0
    assert settings.hooks.receivers["alerts"].rate == 100
    assert settings.hooks.receivers["alerts"].burst == 300
    assert settings.server.trusted_proxies == ["10.0.0.1"]
    assert settings.server.header_timeout == 90.0
    assert sorted(settings.backends) == ["box", "swarm"]
    assert settings.backends["swarm"].model_dump()["type"] == "swarm"
    assert settings.database == "postgresql+asyncpg://app:123456@db/scalehook"
    assert settings.hosts is not None and settings.hosts.providers.libcloud is not None
    assert settings.hosts.providers.libcloud.key == "12345"
    assert settings.data_dir == tmp_path / "data"


def test_file_variables_hold_secrets(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("  s3cr3t-value\n")
    url = tmp_path / "db-url"
    url.write_text("postgresql+asyncpg://app:pw@db/scalehook\n")
    env = {
        "SCALEHOOK_DATABASE_FILE": str(url),
        "SCALEHOOK_ALONE": "true",  # PostgreSQL with the default local backend
        "SCALEHOOK_HOSTS__PROVIDERS__LIBCLOUD__DRIVER": "dummy",
        "SCALEHOOK_HOSTS__PROVIDERS__LIBCLOUD__SECRET_FILE": str(secret),
    }
    env["SCALEHOOK_REGISTRIES"] = '{"localhost:5000": {"username": "ci", "password": "123456"}}'
    settings = load_settings(None, env=env)
    assert settings.registries["localhost:5000"].password == "123456"
    assert settings.database == "postgresql+asyncpg://app:pw@db/scalehook"
    assert settings.hosts is not None and settings.hosts.providers.libcloud is not None
    assert settings.hosts.providers.libcloud.secret == "s3cr3t-value"
    shown = effective(settings)
    assert shown["database"] == "postgresql+asyncpg://app:***@db/scalehook"
    assert shown["hosts"]["providers"]["libcloud"]["secret"] == "***"
    assert shown["registries"]["localhost:5000"] == {
        "username": "ci",
        "password": "***",
        "password_file": None,
    }
    assert "s3cr3t" not in repr(settings) and "123456" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"SCALEHOOK_SERVER__PORT": "high"}, "SCALEHOOK_SERVER__PORT: server.port: Input should"),
        ({"SCALEHOOK_SEVRER__PORT": "1"}, "SCALEHOOK_SEVRER__PORT: sevrer: not a setting"),
        ({"SCALEHOOK_SERVER__PROT": "1"}, "SCALEHOOK_SERVER__PROT: server.prot: not a setting"),
        ({"SCALEHOOK_DATABASE_FILE": "/nonexistent/x"}, "SCALEHOOK_DATABASE_FILE=/nonexistent/x:"),
        (
            {"SCALEHOOK_DATABASE": "sqlite://", "SCALEHOOK_DATABASE_FILE": "/etc/hostname"},
            "not both",
        ),
        ({"SCALEHOOK_SERVER__": "1"}, "an empty name"),
        (
            {"SCALEHOOK_LOG_LEVEL": "info", "SCALEHOOK_LOG_LEVEL__X": "1"},
            "SCALEHOOK_LOG_LEVEL__X: SCALEHOOK_LOG_LEVEL does not hold a mapping",
        ),
    ],
)
def test_environment_problems_name_the_variable(env: dict[str, str], says: str) -> None:
    settings, problems = read_settings(None, env=env)
    assert settings is None
    assert any(says in p for p in problems), problems


def test_every_problem_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "scalehook.yaml"
    path.write_text(
        "services:\n"
        "  web:\n"
        "    command: [python3, app.py]\n"
        "    replicas: many\n"
        "  api:\n"
        "    replicas: 1\n"
        "hooks:\n"
        "  rate: 0\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_settings(path, env={"SCALEHOOK_SERVER__PORT": "-1"})
    problems = raised.value.problems
    assert f"{path}:4: services.web.replicas: Input should be a valid integer" in problems[0]

    def said(start: str) -> bool:
        return any(p.startswith(start) for p in problems)

    assert said(f"{path}:5: services.api.command: Field required")
    assert said(f"{path}:8: hooks.rate: Input should be greater than 0")
    assert said("SCALEHOOK_SERVER__PORT: server.port:")
    assert raised.value.message.count("\n") == len(problems) - 1


def test_a_backend_union_error_has_no_tag_in_its_path(tmp_path: Path) -> None:
    path = tmp_path / "scalehook.yaml"
    path.write_text("backends:\n  box:\n    type: docker\n    timeout: soon\n")
    _, problems = read_settings(path, env={})
    assert problems == [
        f"{path}:4: backends.box.timeout: 'soon' is not a duration; write e.g. '500ms', "
        "'90s', '1m30s', '1h', '1d' or a number of seconds"
    ]


def test_reserved_variables_are_not_settings() -> None:
    env = dict.fromkeys(RESERVED, "x" * 20)
    settings, problems = read_settings(None, env=env)
    assert problems == [] and settings is not None


def test_the_effective_settings_read_back_as_the_same(tmp_path: Path, config: Path) -> None:
    import yaml

    settings = load_settings(config, env={"SCALEHOOK_HOOKS__BURST": "7"})
    again = tmp_path / "again.yaml"
    again.write_text(yaml.safe_dump(effective(settings)))
    assert load_settings(again, env={}) == settings
