"""Settings that hold a secret: kept as written, shown masked.

To the code that uses it a ``Secret`` is text like any other (give its field
``repr=False`` too); a dump made with the context ``{"mask": True}`` (``scalehook config
check``) writes ``***`` in its place. ``SecretUrl`` masks only the password of a URL
(``postgresql://app:***@db/scalehook``), which is what a reader needs to check it.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import SerializationInfo, SerializerFunctionWrapHandler, WrapSerializer

MASK = "***"


def masking(info: SerializationInfo) -> bool:
    """Is this dump one that must not show secrets?"""
    context = info.context
    return isinstance(context, dict) and bool(context.get("mask"))


def _mask(value: Any, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
    if value is not None and masking(info):
        return MASK
    return handler(value)


def mask_url(url: str) -> str:
    """``url`` with its password (if it has one) replaced by ``***``."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return MASK
    if not password:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))


def _mask_url(value: Any, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
    if isinstance(value, str) and masking(info):
        return mask_url(value)
    return handler(value)


Secret = Annotated[str, WrapSerializer(_mask)]
"""A password, key or token in the settings."""

SecretUrl = Annotated[str, WrapSerializer(_mask_url)]
"""A URL that may carry a password (a database URL)."""
