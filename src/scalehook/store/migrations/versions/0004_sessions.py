"""web UI sessions

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26

One row per signed-in browser: the SHA-256 of the session id its cookie holds (never
the id itself), the CSRF secret the page sends with every change, when it expires
(moved forward as it is used), and a hash of the admin token's hash that signed it in
(a new admin token ends every session).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("admin", sa.String(64), nullable=False),
    )
    op.create_index("ix_sessions_expires_at", "sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_sessions_expires_at", "sessions")
    op.drop_table("sessions")
