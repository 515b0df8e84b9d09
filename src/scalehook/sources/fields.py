"""Reading a decoded webhook body, with errors that name the field at fault.

Every source reads nested JSON that a sender may get wrong; these helpers turn a
missing or mistyped field into ``InvalidPayload`` (400) saying which one and why,
so no malformed body can surface as a 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scalehook.domain.images import (
    ImageRef,
    InvalidImage,
    parse_image,
    parse_repository,
    valid_digest,
    valid_tag,
)
from scalehook.domain.signals import ImagePushed
from scalehook.errors import InvalidPayload


def mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise InvalidPayload(f"{where}: must be a JSON object", field=where)
    return value


def child(body: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    path = f"{where}.{key}" if where else key
    if key not in body:
        raise InvalidPayload(f"{path}: is required", field=path)
    return mapping(body[key], path)


def items(body: Mapping[str, Any], key: str, where: str) -> list[Any]:
    path = f"{where}.{key}" if where else key
    value = body.get(key)
    if not isinstance(value, list):
        raise InvalidPayload(f"{path}: must be a JSON array", field=path)
    return value


def string(body: Mapping[str, Any], key: str, where: str) -> str:
    """A required, non-empty string."""
    path = f"{where}.{key}" if where else key
    value = body.get(key)
    if not isinstance(value, str) or not value:
        what = "is required" if value is None else "must be a non-empty string"
        raise InvalidPayload(f"{path}: {what}", field=path)
    return value


def optional_string(body: Mapping[str, Any], key: str, where: str) -> str | None:
    """A string that may be absent, null or empty (all read as None)."""
    path = f"{where}.{key}" if where else key
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidPayload(f"{path}: must be a string", field=path)
    return value


def image(text: str, where: str) -> ImageRef:
    try:
        return parse_image(text)
    except InvalidImage as exc:
        raise InvalidPayload(f"{where}: {exc}", field=where) from exc


def repository(text: str, where: str) -> ImageRef:
    """A repository name without tag or digest (what registries announce as pushed)."""
    try:
        return parse_repository(text)
    except InvalidImage as exc:
        raise InvalidPayload(f"{where}: {exc}", field=where) from exc


def digest(text: str | None, where: str) -> str | None:
    if text is None:
        return None
    if not valid_digest(text):
        raise InvalidPayload(f"{where}: {text!r} is not a digest (sha256:<hex>)", field=where)
    return text


def content_type(headers: Mapping[str, str]) -> str:
    """The media type of the body, lower-case, without parameters."""
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


def pushed(
    source: str, ref: ImageRef, tag: str | None, digest_text: str | None, where: str
) -> ImagePushed:
    """One "image pushed" signal; a tag that no registry would accept is a 400."""
    if tag is not None and not valid_tag(tag):
        raise InvalidPayload(f"{where}: {tag!r} is not a valid tag", field=where)
    return ImagePushed(
        source=source,
        registry=ref.registry,
        repository=ref.repository,
        tag=tag,
        digest=digest(digest_text, where),
    )
