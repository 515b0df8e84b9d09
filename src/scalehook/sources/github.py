"""GitHub Packages (GHCR): the ``package`` and ``registry_package`` events.

The event comes in ``X-GitHub-Event``; other events (``ping`` when a webhook is
created, ``push``, ...) and packages that are not container images give no signal.
The image is ``package_version.package_url`` without its tag (``ghcr.io/owner/name``),
lower-cased as GHCR does; the tag is ``container_metadata.tag.name``. A multi-platform
push also publishes untagged per-platform versions: those come out with no tag, and
the driver ignores them. Signatures (``X-Hub-Signature-256``) are checked before any
source runs, by ``signatures.verify``, when the receiver has a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scalehook.domain.images import valid_digest
from scalehook.domain.signals import Signal
from scalehook.sources import fields

EVENTS = ("package", "registry_package")
_CONTAINER_TYPES = frozenset({"container", "docker"})


class GitHub:
    name = "github"
    title = "GitHub packages"

    def recognises(self, body: Any, headers: Mapping[str, str]) -> bool:
        if "x-github-event" in headers:
            return True
        return isinstance(body, dict) and any(
            isinstance(body.get(event), dict) and "package_version" in body[event]
            for event in EVENTS
        )

    def parse(self, body: Any, headers: Mapping[str, str]) -> list[Signal]:
        body = fields.mapping(body, "body")
        event = headers.get("x-github-event") or next((e for e in EVENTS if e in body), "")
        if event not in EVENTS:
            return []
        if fields.optional_string(body, "action", "") not in (None, "published", "updated"):
            return []
        package = fields.child(body, event, "")
        if not _is_container(package):
            return []
        version = fields.child(package, "package_version", event)
        where = f"{event}.package_version"
        metadata = version.get("container_metadata") or {}
        tag_info = fields.mapping(metadata, f"{where}.container_metadata").get("tag") or {}
        tag_info = fields.mapping(tag_info, f"{where}.container_metadata.tag")
        tag = fields.optional_string(tag_info, "name", f"{where}.container_metadata.tag")
        digest = fields.optional_string(tag_info, "digest", f"{where}.container_metadata.tag")
        if digest is None:
            named = fields.optional_string(version, "name", where)
            digest = named if named is not None and valid_digest(named) else None
        ref = fields.image(_repository(package, version, event), f"{where}.package_url")
        return [fields.pushed(self.name, ref, tag, digest, f"{where}.container_metadata.tag")]


def _is_container(package: Mapping[str, Any]) -> bool:
    registry = package.get("registry")
    kinds = [
        package.get("package_type"),
        package.get("ecosystem"),
        registry.get("type") if isinstance(registry, dict) else None,
    ]
    return any(isinstance(k, str) and k.lower() in _CONTAINER_TYPES for k in kinds)


def _repository(package: Mapping[str, Any], version: Mapping[str, Any], event: str) -> str:
    """``ghcr.io/owner/name`` from the version's package URL, else from owner and name."""
    url = fields.optional_string(version, "package_url", f"{event}.package_version")
    if url is not None:
        name = url.split("@", 1)[0]
        if name.rfind(":") > name.rfind("/"):
            name = name[: name.rfind(":")]
        return name.lower()
    owner = fields.child(package, "owner", event)
    login = fields.string(owner, "login", f"{event}.owner")
    return f"ghcr.io/{login}/{fields.string(package, 'name', event)}".lower()


SOURCE = GitHub()
