"""alert-driven scaling: receivers.dry_run/paused, alert_incidents

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("receivers") as batch:
        batch.add_column(
            sa.Column("dry_run", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_table(
        "alert_incidents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("receiver_id", sa.Integer, nullable=False),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fired_execution_id", sa.Integer, nullable=True),
        sa.Column("batch", sa.Integer, nullable=True),
        sa.Column("owes", sa.Boolean, nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint(
            "receiver_id", "dry_run", "fingerprint", "starts_at", name="uq_alert_incidents_key"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_alert_incidents_batch", "alert_incidents", ["batch"])


def downgrade() -> None:
    op.drop_index("ix_alert_incidents_batch", "alert_incidents")
    op.drop_table("alert_incidents")
    with op.batch_alter_table("receivers") as batch:
        batch.drop_column("paused")
        batch.drop_column("dry_run")
