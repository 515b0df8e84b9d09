"""The rules of UI sessions (domain/sessions.py): ids, expiry that slides, CSRF."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scalehook.domain.sessions import (
    IDLE,
    REFRESH_EVERY,
    csrf_matches,
    expired,
    extended,
    hash_session_id,
    needs_csrf,
    new_session,
    signed_by,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_new_session_keeps_only_the_hash_of_its_id() -> None:
    session_id, session = new_session(NOW)
    other_id, other = new_session(NOW)
    assert session_id != other_id and session.csrf != other.csrf
    assert session.id_hash == hash_session_id(session_id) != session_id
    assert len(session_id) >= 43  # 256 bits
    assert session.expires_at == NOW + IDLE


def test_expiry_slides_at_most_once_per_refresh_interval() -> None:
    _, session = new_session(NOW)
    assert extended(session, NOW + REFRESH_EVERY / 2) is None
    later = NOW + REFRESH_EVERY + timedelta(seconds=1)
    moved = extended(session, later)
    assert moved is not None and moved.expires_at == later + IDLE
    assert not expired(session, NOW + IDLE - timedelta(seconds=1))
    assert expired(session, NOW + IDLE)


def test_changes_need_the_csrf_secret() -> None:
    _, session = new_session(NOW)
    assert csrf_matches(session, session.csrf)
    assert not csrf_matches(session, None)
    assert not csrf_matches(session, "")
    assert not csrf_matches(session, session.csrf + "x")
    assert not csrf_matches(session, "é" * 10)
    assert [m for m in ("GET", "HEAD", "OPTIONS", "get") if needs_csrf(m)] == []
    assert all(needs_csrf(m) for m in ("POST", "PATCH", "PUT", "DELETE"))


def test_a_session_belongs_to_the_admin_token_that_signed_it_in() -> None:
    _, session = new_session(NOW, "hash-of-token-a")
    assert signed_by(session, "hash-of-token-a")
    assert not signed_by(session, "hash-of-token-b")
    assert "hash-of-token-a" not in session.admin
