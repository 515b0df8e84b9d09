"""Receivers and their trigger keys.

A key is 256 bits from ``secrets`` and is shown once (at create and rotate); the store
keeps only its SHA-256. A fast hash is right here: the key is random and long, so
there is nothing to guess, and a lookup by hash costs one indexed read.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NewType

ReceiverId = NewType("ReceiverId", int)

SECRET_FIELDS = frozenset({"secret"})
"""Config keys that are never shown: API answers leave them out (``public_config``)."""

KEY_PREFIX = "shk_"
KEY_BYTES = 32
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$")


_MAX_ID_DIGITS = 18  # below SQL's 64-bit integer limit


def parse_id(text: str) -> ReceiverId | None:
    """The receiver id written in ``text`` (ASCII digits only), or ``None`` for a name.

    ``str.isdigit`` alone also accepts digits such as ``"5³"`` that ``int`` refuses,
    and a long run of digits overflows the database's integer.
    """
    if text.isascii() and text.isdigit() and len(text) <= _MAX_ID_DIGITS:
        return ReceiverId(int(text))
    return None


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def public_config(config: dict[str, Any]) -> dict[str, Any]:
    """A receiver's config as the API shows it: without its secrets."""
    return {k: v for k, v in config.items() if k not in SECRET_FIELDS}


def has_secret(config: dict[str, Any]) -> bool:
    return any(config.get(k) is not None for k in SECRET_FIELDS)


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True, slots=True)
class Receiver:
    id: ReceiverId
    name: str
    driver: str
    config: dict[str, Any]
    enabled: bool
    created_at: datetime
    updated_at: datetime
    dry_run: bool = False  # decide and record, change nothing
    paused: bool = False  # answer 200, record ``paused``, decide nothing
