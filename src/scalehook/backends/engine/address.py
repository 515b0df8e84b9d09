"""Where a Docker engine listens and how to reach it, as the ``docker`` command does.

``docker_host:`` in ``scalehook.yaml`` wins, else ``DOCKER_HOST``, else the local socket.
TLS comes from ``docker_tls:``, else from ``DOCKER_TLS_VERIFY`` / ``DOCKER_TLS`` and the
``ca.pem``, ``cert.pem``, ``key.pem`` in ``DOCKER_CERT_PATH`` (default ``~/.docker``), so
a shell that can run ``docker`` can run scalehook against the same engine.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from scalehook.domain.durations import Duration
from scalehook.errors import ScalehookError

DEFAULT_SOCKET = "/var/run/docker.sock"
_SCHEMES = ("unix", "tcp", "http", "https")


class EngineAddressError(ScalehookError):
    """``docker_host`` / ``DOCKER_HOST`` or the TLS files cannot be used."""

    status = 400
    code = "config_error"


def check_docker_host(value: str) -> str:
    scheme = value.partition("://")[0] if "://" in value else ""
    if scheme not in _SCHEMES:
        raise ValueError(
            f"{value!r}: write unix:///path/to/docker.sock or tcp://host:port "
            "(ssh:// and npipe:// are not supported)"
        )
    return value


DockerHost = Annotated[str, AfterValidator(check_docker_host)]
"""A ``docker_host`` setting, checked for a scheme scalehook can use."""


class TlsSettings(BaseModel):
    """TLS to a TCP engine; paths default to the files in ``cert_path``."""

    model_config = ConfigDict(extra="forbid")

    cert_path: str | None = Field(
        default=None, description="directory holding ca.pem, cert.pem, key.pem"
    )
    ca_cert: str | None = Field(default=None, description="CA that signed the engine's cert")
    client_cert: str | None = None
    client_key: str | None = None
    verify: bool = Field(default=True, description="check the engine's certificate")


class EngineSettings(BaseModel):
    """How to reach one Docker engine; shared by the ``docker`` and ``swarm`` backends."""

    model_config = ConfigDict(extra="forbid")

    docker_host: DockerHost | None = Field(
        default=None, description="unix:///path or tcp://host:port; default $DOCKER_HOST"
    )
    docker_tls: TlsSettings | None = Field(
        default=None, description="default: $DOCKER_TLS_VERIFY and $DOCKER_CERT_PATH"
    )
    timeout: Annotated[Duration, Field(gt=0)] = Field(
        default=30.0, description="longest wait for one engine call"
    )


@dataclass(frozen=True, slots=True, eq=False)
class EngineAddress:
    """A resolved engine address: what to show people, and what httpx needs."""

    display: str
    base_url: str
    uds: str | None = None
    tls: ssl.SSLContext | None = None


def resolve_address(
    docker_host: str | None,
    tls: TlsSettings | None,
    *,
    env: Mapping[str, str] | None = None,
) -> EngineAddress:
    """The address of the engine to use, from settings first, then the environment."""
    env = os.environ if env is None else env
    host = docker_host or env.get("DOCKER_HOST") or f"unix://{DEFAULT_SOCKET}"
    try:
        check_docker_host(host)
    except ValueError as exc:
        raise EngineAddressError(f"docker host {exc}") from exc
    scheme, _, rest = host.partition("://")
    if scheme == "unix":
        path = rest or DEFAULT_SOCKET
        return EngineAddress(display=f"unix://{path}", base_url="http://docker", uds=path)
    if tls is None and (env.get("DOCKER_TLS_VERIFY") or env.get("DOCKER_TLS")):
        tls = TlsSettings(
            cert_path=env.get("DOCKER_CERT_PATH"), verify=bool(env.get("DOCKER_TLS_VERIFY"))
        )
    if scheme == "https" and tls is None:
        tls = TlsSettings(verify=True)
    use_tls = tls is not None
    parts = urlsplit(f"//{rest}")
    if not parts.hostname:
        raise EngineAddressError(f"docker host {host!r} names no host")
    try:
        port = parts.port or (2376 if use_tls else 2375)
    except ValueError as exc:
        raise EngineAddressError(f"docker host {host!r} has a bad port") from exc
    netloc = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    base = f"{'https' if use_tls else 'http'}://{netloc}:{port}"
    return EngineAddress(
        display=f"tcp://{netloc}:{port}",
        base_url=base,
        tls=None if tls is None else ssl_context(tls, env),
    )


def ssl_context(tls: TlsSettings, env: Mapping[str, str]) -> ssl.SSLContext:
    """A client context: the engine's CA (or the system's), and our certificate if any."""
    folder = Path(tls.cert_path or env.get("DOCKER_CERT_PATH") or "~/.docker").expanduser()

    def pick(given: str | None, default: str) -> str | None:
        if given:
            return str(Path(given).expanduser())
        candidate = folder / default
        return str(candidate) if candidate.is_file() else None

    ca, cert, key = (
        pick(tls.ca_cert, "ca.pem"),
        pick(tls.client_cert, "cert.pem"),
        pick(tls.client_key, "key.pem"),
    )
    try:
        if tls.verify:
            context = ssl.create_default_context(cafile=ca)
        else:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if cert:
            context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise EngineAddressError(f"docker TLS files in {folder}: {exc}") from exc
    return context
