"""Registry credentials for the engine's pulls and Swarm service updates, found as the
``docker`` CLI finds them.

For an image's registry, in order:

1. ``registries:`` in ``scalehook.yaml``: ``{"localhost:5000": {username, password}}``
   (or ``password_file``, read at each use: a Docker or systemd secret);
2. the Docker CLI's config, ``$DOCKER_CONFIG/config.json`` (default
   ``~/.docker/config.json``): ``credHelpers[registry]``, else ``credsStore``, through
   the credential helper protocol (``docker-credential-<name> get``, the server on stdin,
   ``{"Username", "Secret"}`` on stdout; a ``Username`` of ``<token>`` means an identity
   token); a helper that has none, or fails, falls back to
3. ``auths[registry]``: ``auth`` (base64 of ``user:password``), or ``username`` and
   ``password``, or ``identitytoken``.

None found: the engine goes anonymous. What is found is sent as the Engine API's
``X-Registry-Auth`` header (base64url of ``{"username", "password", "serveraddress"}``
or ``{"identitytoken", "serveraddress"}``) and nowhere else: never logged, never in an
error (errors name the registry, the file or the helper, never what they hold), never
returned by the API.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from scalehook.domain.images import DOCKER_HUB, InvalidImage, parse_image, registry_host
from scalehook.domain.masking import Secret
from scalehook.errors import BackendUnsupported

log = logging.getLogger(__name__)

HEADER = "X-Registry-Auth"
HUB_SERVER = "https://index.docker.io/v1/"
"""How the docker CLI names Docker Hub to its config and its credential helpers."""
HELPER_WAIT = 30.0
_TOKEN_USER = "<token>"  # noqa: S105 - the helper protocol's marker, not a secret


class RegistryLogin(BaseModel):
    """One registry's login in ``registries:``."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1)
    password: Secret | None = Field(default=None, repr=False, description="never shown")
    password_file: Path | None = Field(
        default=None, description="a file holding the password (read at each use)"
    )

    @model_validator(mode="after")
    def _one_password(self) -> RegistryLogin:
        if (self.password is None) == (self.password_file is None):
            raise ValueError("give password or password_file (one of them)")
        return self


@dataclass(frozen=True, slots=True)
class Credential:
    """A login for one registry, as the Engine API wants it."""

    server: str
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    identity_token: str | None = field(default=None, repr=False)
    source: str = ""  # where it came from, for messages: never the secret itself

    def header(self) -> str:
        """The ``X-Registry-Auth`` value: base64url of the Engine API's AuthConfig."""
        body: dict[str, str] = {"serveraddress": self.server}
        if self.identity_token:
            body["identitytoken"] = self.identity_token
        else:
            body["username"] = self.username or ""
            body["password"] = self.password or ""
        return base64.urlsafe_b64encode(json.dumps(body).encode()).decode()


def server_name(registry: str) -> str:
    """How the docker CLI's config and helpers name a registry."""
    return HUB_SERVER if registry == DOCKER_HUB else registry


class RegistryAuth:
    """Finds the credentials for an image's registry; one per scalehook, shared by its
    engine backends. Reads its sources at each use: a rotated secret, a new
    ``docker login``, or a helper's refreshed token applies to the next pull."""

    def __init__(
        self,
        logins: Mapping[str, RegistryLogin] | None = None,
        *,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._logins = {registry_host(k): v for k, v in (logins or {}).items()}
        self._env = os.environ if env is None else env

    @property
    def config_path(self) -> Path:
        folder = self._env.get("DOCKER_CONFIG")
        base = Path(folder) if folder else Path(self._env.get("HOME") or Path.home()) / ".docker"
        return base / "config.json"

    async def headers(self, image: str | None) -> dict[str, str]:
        """``{"X-Registry-Auth": ...}`` for ``image``'s registry, or ``{}``: anonymous."""
        if not image:
            return {}
        try:
            registry = parse_image(image).registry
        except InvalidImage:
            return {}
        found = await self.credential(registry)
        return {} if found is None else {HEADER: found.header()}

    async def credential(self, registry: str) -> Credential | None:
        registry = registry_host(registry)
        login = self._logins.get(registry)
        if login is not None:
            return Credential(
                server=server_name(registry),
                username=login.username,
                password=self._password(registry, login),
                source="registries",
            )
        config = self._docker_config()
        helper = _helper_for(config.get("credHelpers") or {}, registry)
        helper = helper or config.get("credsStore")
        if isinstance(helper, str) and helper:
            found = await self._from_helper(helper, registry)
            if found is not None:
                return found
        return _from_auths(config.get("auths") or {}, registry, str(self.config_path))

    def _password(self, registry: str, login: RegistryLogin) -> str:
        if login.password is not None:
            return login.password
        assert login.password_file is not None
        try:
            return login.password_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise BackendUnsupported(
                f"registries.{registry}.password_file={login.password_file}: cannot read it: "
                f"{reason}"
            ) from None  # from None: the cause names nothing more, and holds no secret

    def _docker_config(self) -> dict[str, Any]:
        path = self.config_path
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("registry credentials: cannot read %s (%s)", path, type(exc).__name__)
            return {}
        return loaded if isinstance(loaded, dict) else {}

    async def _from_helper(self, helper: str, registry: str) -> Credential | None:
        """Ask ``docker-credential-<helper>``; None when it has nothing for the registry
        or fails (said in the log, without what it printed)."""
        program = f"docker-credential-{helper}"
        server = server_name(registry)
        try:
            process = await asyncio.create_subprocess_exec(
                program,
                "get",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            log.warning("registry %s: cannot run %s: %s", registry, program, exc.strerror or exc)
            return None
        try:
            out, err = await asyncio.wait_for(
                process.communicate(server.encode()), timeout=HELPER_WAIT
            )
        except TimeoutError:
            process.kill()
            await process.wait()
            log.warning("registry %s: %s did not answer within %gs", registry, program, HELPER_WAIT)
            return None
        if process.returncode != 0:
            said = (out + err).decode(errors="replace").lower()
            if "credentials not found" not in said:
                log.warning(
                    "registry %s: %s failed (exit status %s)", registry, program, process.returncode
                )
            return None
        try:
            answer = json.loads(out)
            username, secret = str(answer["Username"]), str(answer["Secret"])
        except (ValueError, KeyError, TypeError):
            log.warning("registry %s: %s answered something that is not a login", registry, program)
            return None
        if username == _TOKEN_USER:
            return Credential(server=server, identity_token=secret, source=program)
        return Credential(server=server, username=username, password=secret, source=program)


def _helper_for(helpers: Mapping[str, Any], registry: str) -> str | None:
    """The ``credHelpers`` entry of a registry, however its key is written (``host``,
    ``https://host``, one of Docker Hub's aliases)."""
    for key, name in helpers.items():
        if registry_host(str(key)) == registry and isinstance(name, str):
            return name
    return None


def _from_auths(auths: Mapping[str, Any], registry: str, where: str) -> Credential | None:
    for key, entry in auths.items():
        if registry_host(str(key)) != registry or not isinstance(entry, dict):
            continue
        server = server_name(registry)
        token = entry.get("identitytoken")
        if isinstance(token, str) and token:
            return Credential(server=server, identity_token=token, source=where)
        encoded = entry.get("auth")
        if isinstance(encoded, str) and encoded:
            try:
                user, sep, secret = base64.b64decode(encoded).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                log.warning("registry %s: the auth of %s in %s is not base64", registry, key, where)
                return None
            if sep:
                return Credential(server, user, secret, source=where)
            return None
        username, password = entry.get("username"), entry.get("password")
        if isinstance(username, str) and isinstance(password, str):
            return Credential(server, username, password, source=where)
    return None
