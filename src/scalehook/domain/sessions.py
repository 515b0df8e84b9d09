"""Web UI sessions: what a browser holds after signing in with the admin token.

The browser never keeps the token. Signing in gives it a cookie holding a random
session id (256 bits) and gives the page a CSRF secret; the store keeps the id only as
its SHA-256, as it keeps trigger keys. A session ends ``IDLE`` after its last use
(sliding), or at sign-out. With the cookie, every change (any method but GET/HEAD)
must carry the CSRF secret in ``X-CSRF-Token``: another site can make a browser send
the cookie, but cannot read the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

COOKIE = "scalehook_session"
CSRF_HEADER = "X-CSRF-Token"
IDLE = timedelta(hours=12)
"""A session unused for this long has ended."""
REFRESH_EVERY = timedelta(minutes=5)
"""How stale the stored expiry may get before a use moves it (a write per this, not per use)."""
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that change nothing: they need no CSRF secret."""

_BYTES = 32


@dataclass(frozen=True, slots=True)
class UiSession:
    id_hash: str
    csrf: str
    created_at: datetime
    expires_at: datetime
    admin: str = ""
    """Which admin token signed it in (a hash of the token's hash): a new token ends it."""


def hash_session_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


def admin_mark(admin_hash: str) -> str:
    """What a session keeps of the admin token that signed it in."""
    return hashlib.sha256(b"ui-session:" + admin_hash.encode()).hexdigest()


def new_session(now: datetime, admin_hash: str = "") -> tuple[str, UiSession]:
    """A new session id (for the cookie only) and the record to keep."""
    session_id = secrets.token_urlsafe(_BYTES)
    record = UiSession(
        id_hash=hash_session_id(session_id),
        csrf=secrets.token_urlsafe(_BYTES),
        created_at=now,
        expires_at=now + IDLE,
        admin=admin_mark(admin_hash),
    )
    return session_id, record


def signed_by(session: UiSession, admin_hash: str) -> bool:
    """The session was signed in with the admin token in force now."""
    return hmac.compare_digest(session.admin.encode(), admin_mark(admin_hash).encode())


def expired(session: UiSession, now: datetime) -> bool:
    return now >= session.expires_at


def extended(session: UiSession, now: datetime) -> UiSession | None:
    """The session with its expiry moved to ``now + IDLE``, or None when the stored
    expiry is recent enough to keep."""
    if session.expires_at - now > IDLE - REFRESH_EVERY:
        return None
    return replace(session, expires_at=now + IDLE)


def csrf_matches(session: UiSession, sent: str | None) -> bool:
    if not sent:
        return False
    return hmac.compare_digest(sent.encode("utf-8", "surrogatepass"), session.csrf.encode())


def needs_csrf(method: str) -> bool:
    return method.upper() not in SAFE_METHODS
