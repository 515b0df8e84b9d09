"""The admin token: from ``SCALEHOOK_ADMIN_TOKEN``, or generated once and kept as a hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from scalehook.config import ConfigError
from scalehook.store import Store

SETTING = "admin_token_sha256"
TOKEN_PREFIX = "sha_"  # noqa: S105 - a prefix, not a secret
MIN_LENGTH = 16


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def token_matches(token: str, expected_hash: str) -> bool:
    return hmac.compare_digest(hash_token(token).encode(), expected_hash.encode())


async def admin_token_hash(store: Store, env_token: str | None) -> tuple[str, str | None]:
    """The hash to check callers against, and the token if it was generated just now."""
    if env_token:
        if len(env_token) < MIN_LENGTH:
            raise ConfigError(f"SCALEHOOK_ADMIN_TOKEN must be at least {MIN_LENGTH} characters")
        digest = hash_token(env_token)
        if await store.settings.get(SETTING) is None:
            await store.settings.set(SETTING, digest)
        return digest, None
    stored = await store.settings.get(SETTING)
    if stored is not None:
        return stored, None
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    digest = hash_token(token)
    await store.settings.set(SETTING, digest)
    return digest, token
