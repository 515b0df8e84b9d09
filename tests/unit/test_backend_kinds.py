"""The registry of engine kinds drives the config: each kind in ``KINDS`` is a
``backends:`` type, a ``backend:`` choice with its shorthand, and a backend built."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import ValidationError

from scalehook.backends.engine.address import EngineSettings
from scalehook.backends.kinds import KINDS, Shorthand, build_backend, kind_of
from scalehook.backends.local.spec import LocalServiceSpec
from scalehook.config import Settings

ENGINE_KINDS = [name for name, kind in KINDS.items() if issubclass(kind.settings, EngineSettings)]


def test_the_config_schema_is_the_registry() -> None:
    assert set(KINDS) == {"local", "docker", "swarm"}
    schema = Settings.model_json_schema()
    assert schema["properties"]["backend"]["enum"] == list(KINDS)
    union = schema["properties"]["backends"]["additionalProperties"]
    assert set(union["discriminator"]["mapping"]) == set(KINDS)
    with pytest.raises(ValidationError, match="'local', 'docker' or 'swarm'"):
        Settings.model_validate({"backend": "nomad"})


@pytest.mark.parametrize("name", list(KINDS))
def test_each_kind_is_declared_shorthanded_and_built(name: str, tmp_path: Path) -> None:
    kind = KINDS[name]
    entry = Settings.model_validate({"backends": {"b1": {"type": name}}}).backends["b1"]
    assert type(entry) is kind.settings
    assert kind_of(entry) is kind

    one = Settings.model_validate({"backend": name}).backends
    assert list(one) == [name] and type(one[name]) is kind.settings
    assert one[name] == kind.shorthand(Shorthand())

    backend = build_backend("b1", entry, data_dir=tmp_path)
    try:
        assert (backend.name, backend.kind) == ("b1", name)
    finally:
        asyncio.run(backend.close())


@pytest.mark.parametrize("name", ENGINE_KINDS)
def test_an_engine_kind_takes_docker_host_and_no_local_services(name: str) -> None:
    one = Settings.model_validate({"backend": name, "docker_host": "tcp://m:2376"}).backends[name]
    assert isinstance(one, EngineSettings) and one.docker_host == "tcp://m:2376"
    with pytest.raises(ValueError, match=f"backend is '{name}'"):
        KINDS[name].shorthand(Shorthand(services={"w": LocalServiceSpec(command=["x"])}))


def test_local_refuses_docker_host_naming_every_engine_kind() -> None:
    engines = " or ".join(ENGINE_KINDS)
    with pytest.raises(ValueError, match=f"^docker_host and docker_tls go with backend {engines}$"):
        KINDS["local"].shorthand(Shorthand(docker_host="tcp://m:2376"))
