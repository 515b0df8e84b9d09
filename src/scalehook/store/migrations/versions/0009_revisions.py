"""revisions, and rollout control

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28

``revisions`` numbers each change of a service's image (and, later, of its resources)
per service, from 1: the image it runs with the change, the one before, why (the
execution, its driver and receiver or ``api``), and the outcome of its rollout. Rollouts
gain ``paused`` (a pause asked by hand holds between batches, also after a restart) and
``command`` (a cancel or rollback asked by hand and not yet obeyed).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("change", sa.String(20), nullable=False),
        sa.Column("image", sa.String(512), nullable=True),
        sa.Column("previous_image", sa.String(512), nullable=True),
        sa.Column("resources", sa.JSON, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("execution_id", sa.Integer, nullable=True),
        sa.Column("driver", sa.String(40), nullable=True),
        sa.Column("receiver_id", sa.Integer, nullable=True),
        sa.Column("receiver_name", sa.String(100), nullable=True),
        sa.Column("caller", sa.String(100), nullable=True),
        sa.Column("rollback_of", sa.Integer, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("target", "number", name="uq_revisions_target_number"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_revisions_execution", "revisions", ["execution_id"])
    with op.batch_alter_table("rollouts") as batch:
        batch.add_column(sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("command", sa.String(20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rollouts") as batch:
        batch.drop_column("command")
        batch.drop_column("paused")
    op.drop_index("ix_revisions_execution", "revisions")
    op.drop_table("revisions")
