"""Signing a browser in with the admin token, and checking its session on each request.

The rules are in ``domain/sessions.py``; this module applies them to the store and the
clock, for the UI's ``/ui/session`` routes and for the API's cookie authentication.
"""

from __future__ import annotations

from scalehook.auth import token_matches
from scalehook.domain.sessions import (
    UiSession,
    csrf_matches,
    expired,
    extended,
    hash_session_id,
    needs_csrf,
    new_session,
    signed_by,
)
from scalehook.errors import Forbidden, Unauthorized
from scalehook.loops import Clock
from scalehook.store import Store


async def sign_in(store: Store, clock: Clock, admin_hash: str, token: str) -> tuple[str, UiSession]:
    """A new session for a caller who proved the admin token: its id (for the cookie,
    never stored) and its record."""
    if not token_matches(token, admin_hash):
        raise Unauthorized("the admin token is not valid", field="token")
    session_id, session = new_session(clock.now(), admin_hash)
    await store.sessions.add(session)
    return session_id, session


async def session_for(store: Store, clock: Clock, admin_hash: str, session_id: str) -> UiSession:
    """The live session a cookie names, its expiry moved forward; 401 when there is
    none (unknown, signed out, ended, or signed in with another admin token)."""
    id_hash = hash_session_id(session_id)
    session = await store.sessions.get(id_hash)
    now = clock.now()
    if session is None:
        raise Unauthorized("not signed in, or signed out: sign in again")
    if expired(session, now):
        await store.sessions.delete(id_hash)
        raise Unauthorized("the session has ended: sign in again")
    if not signed_by(session, admin_hash):
        await store.sessions.delete(id_hash)
        raise Unauthorized("the admin token has changed since this session began: sign in again")
    moved = extended(session, now)
    if moved is not None:
        await store.sessions.extend(id_hash, moved.expires_at)
        session = moved
    return session


def check_csrf(session: UiSession, method: str, sent: str | None) -> None:
    """Changes made with a session cookie must carry its CSRF token."""
    if needs_csrf(method) and not csrf_matches(session, sent):
        raise Forbidden(
            "a change made with the session cookie needs the session's CSRF token "
            "in the X-CSRF-Token header",
            field="X-CSRF-Token",
        )


async def sign_out(store: Store, session_id: str) -> None:
    await store.sessions.delete(hash_session_id(session_id))
