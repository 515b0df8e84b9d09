"""Image references, normalised so that two spellings of one image compare equal.

A registry says ``acme/app``, a service runs ``docker.io/acme/app:1``, a user writes
``index.docker.io/acme/app``: all three name one repository. Upgrades compare the
pushed repository with each service's, so the rules of the Docker reference grammar
(``distribution/reference``) are applied here, once: the first path component is a
registry only when it has a ``.`` or a ``:`` or is ``localhost``; Docker Hub's aliases
become ``docker.io``; a one-component Docker Hub name gains ``library/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

DOCKER_HUB = "docker.io"
_HUB_ALIASES = frozenset(
    {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
)
_MAX_NAME = 255

_HOST_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_REGISTRY = re.compile(
    rf"^(?:{_HOST_COMPONENT}(?:\.{_HOST_COMPONENT})*|\[[0-9a-fA-F:.]+\])(?::[0-9]{{1,5}})?$"
)
_PATH_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
TAG = re.compile(r"^[\w][\w.-]{0,127}$", re.ASCII)
DIGEST = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-fA-F0-9]{32,}$")


class InvalidImage(ValueError):
    """A string that is not an image reference; the message says what is wrong."""


@dataclass(frozen=True, slots=True, order=True)
class ImageRef:
    """``registry/repository[:tag][@digest]``, normalised (``docker.io/library/nginx``)."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """Registry and repository: what must be equal for two images to be one repository."""
        return f"{self.registry}/{self.repository}"

    def same_repository(self, other: ImageRef) -> bool:
        return self.registry == other.registry and self.repository == other.repository

    def with_tag(self, tag: str | None, digest: str | None = None) -> ImageRef:
        return replace(self, tag=tag, digest=digest)

    def by_tag(self) -> str:
        """How an engine is told to run it: by tag, without the digest (``acme/app:2``)."""
        return self.with_tag(self.tag).familiar()

    def familiar(self) -> str:
        """The short spelling people use: ``nginx:1``, ``acme/app:2``, ``ghcr.io/o/a:3``."""
        name = self.name
        if self.registry == DOCKER_HUB:
            name = self.repository.removeprefix("library/") if self._official() else self.repository
        return name + self._suffix()

    def __str__(self) -> str:
        return self.name + self._suffix()

    def _official(self) -> bool:
        return self.repository.startswith("library/") and self.repository.count("/") == 1

    def _suffix(self) -> str:
        text = f":{self.tag}" if self.tag is not None else ""
        return text + (f"@{self.digest}" if self.digest is not None else "")


def parse_image(text: str) -> ImageRef:
    """Parse and normalise an image reference; ``InvalidImage`` says why one is not."""
    if not isinstance(text, str) or not text:
        raise InvalidImage("an image reference cannot be empty")
    if text != text.strip() or any(c.isspace() for c in text):
        raise InvalidImage(f"{text!r} is not an image reference: it contains white space")
    rest, at, digest = text.partition("@")
    if at and not DIGEST.match(digest):
        raise InvalidImage(f"{text!r}: {digest!r} is not a digest (write e.g. sha256:<hex>)")
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = _registry(first, text), remainder
    else:
        registry, path = DOCKER_HUB, rest
    tag: str | None = None
    colon = path.rfind(":")
    if colon > path.rfind("/"):
        path, tag = path[:colon], path[colon + 1 :]
        if not TAG.match(tag):
            raise InvalidImage(f"{text!r}: {tag!r} is not a valid tag")
    return ImageRef(registry, _repository(registry, path, text), tag, digest if at else None)


def parse_repository(text: str) -> ImageRef:
    """A repository without tag or digest (what registries announce as the pushed name)."""
    ref = parse_image(text)
    if ref.tag is not None or ref.digest is not None:
        raise InvalidImage(f"{text!r} should name a repository, without a tag or digest")
    return ref


def image_at(registry: str, repository: str) -> ImageRef:
    """A repository on a named registry host, even one without a dot (``myregistry``)."""
    host = _registry(registry, registry)
    return ImageRef(host, _repository(host, repository, f"{registry}/{repository}"))


def registry_host(text: str) -> str:
    """A registry as ``docker login`` and ``~/.docker/config.json`` name it
    (``https://index.docker.io/v1/``, ``localhost:5000``, ``ghcr.io``), as an image's
    ``registry`` says it: the host and port, lower-cased, Docker Hub's aliases
    ``docker.io``."""
    host = text.strip()
    for scheme in ("https://", "http://"):
        if host.lower().startswith(scheme):
            host = host[len(scheme) :]
    host = host.split("/", 1)[0].lower()
    return DOCKER_HUB if host in _HUB_ALIASES else host


def _registry(host: str, text: str) -> str:
    if not _REGISTRY.match(host):
        raise InvalidImage(f"{text!r}: {host!r} is not a registry host[:port]")
    host = host.lower()
    return DOCKER_HUB if host in _HUB_ALIASES else host


def _repository(registry: str, path: str, text: str) -> str:
    if not path:
        raise InvalidImage(f"{text!r} names no repository")
    for component in path.split("/"):
        if not _PATH_COMPONENT.match(component):
            hint = " (repository names are lower-case)" if component.lower() != component else ""
            raise InvalidImage(f"{text!r}: {component!r} is not a valid repository name{hint}")
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if len(registry) + 1 + len(path) > _MAX_NAME:
        raise InvalidImage(f"{text!r}: the name is longer than {_MAX_NAME} characters")
    return path


def valid_digest(text: str) -> bool:
    return bool(DIGEST.match(text))


def valid_tag(text: str) -> bool:
    return bool(TAG.match(text))
