"""The admin token: from ``SCALEHOOK_ADMIN_TOKEN`` or the file ``SCALEHOOK_ADMIN_TOKEN_FILE``
names (a Docker or systemd secret), or generated once; kept only as a hash.

A generated token is written to ``<data>/admin-token`` (mode 0600) before its hash is
stored, so it is never lost; it is never printed or logged, only where it is.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from scalehook.config import ConfigError
from scalehook.store import Store

SETTING = "admin_token_sha256"
TOKEN_PREFIX = "sha_"  # noqa: S105 - a prefix, not a secret
MIN_LENGTH = 16
TOKEN_ENV = "SCALEHOOK_ADMIN_TOKEN"  # noqa: S105 - the variable's name
TOKEN_FILE_ENV = "SCALEHOOK_ADMIN_TOKEN_FILE"  # noqa: S105 - the variable's name
GENERATED_FILE = "admin-token"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def token_matches(token: str, expected_hash: str) -> bool:
    return hmac.compare_digest(hash_token(token).encode(), expected_hash.encode())


def configured_token(env: Mapping[str, str]) -> str | None:
    """The admin token the environment gives, if any: ``SCALEHOOK_ADMIN_TOKEN``, or the
    content of the file ``SCALEHOOK_ADMIN_TOKEN_FILE`` names, stripped of surrounding
    whitespace (a secret file usually ends in a newline). A file that cannot be read, or
    both variables at once, stop scalehook at start with a ``ConfigError``."""
    direct = env.get(TOKEN_ENV) or None
    path = env.get(TOKEN_FILE_ENV) or None
    if path is None:
        return direct
    if direct is not None:
        raise ConfigError(f"give {TOKEN_ENV} or {TOKEN_FILE_ENV}, not both")
    return read_token_file(Path(path))


def read_token_file(path: Path) -> str:
    """A token kept in a file (never echoed in an error: only the path and the reason)."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"{TOKEN_FILE_ENV}={path}: cannot read the admin token: {exc.strerror or exc}"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{TOKEN_FILE_ENV}={path}: the file is not UTF-8 text") from None
    if not token:
        raise ConfigError(f"{TOKEN_FILE_ENV}={path}: the file is empty")
    if len(token) < MIN_LENGTH:
        raise ConfigError(
            f"{TOKEN_FILE_ENV}={path}: the admin token must be at least {MIN_LENGTH} characters"
        )
    return token


def save_token(path: Path, token: str) -> None:
    """Write a generated token to ``path``, readable by its owner only, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


async def admin_token_hash(
    store: Store, env_token: str | None, *, token_file: Path
) -> tuple[str, str | None]:
    """The hash to check callers against, and the token if it was generated just now
    (then it is in ``token_file``)."""
    if env_token:
        if len(env_token) < MIN_LENGTH:
            raise ConfigError(f"{TOKEN_ENV} must be at least {MIN_LENGTH} characters")
        digest = hash_token(env_token)
        await store.settings.set_default(SETTING, digest)
        return digest, None
    stored = await store.settings.get(SETTING)
    if stored is not None:
        return stored, None
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    digest = hash_token(token)
    save_token(token_file, token)  # first: a stored hash whose token is lost locks us out
    kept = await store.settings.set_default(SETTING, digest)
    if kept != digest:  # another instance, starting at the same time, generated one first
        token_file.unlink(missing_ok=True)  # ours opens nothing: the file must not say it does
        return kept, None
    return digest, token
