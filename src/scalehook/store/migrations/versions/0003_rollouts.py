"""rollouts, and execution status for actions that run in the background

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

Executions gain ``status`` (``running`` while a rollout goes on, ``done`` once it has
a final result; every earlier execution is ``done``) and ``updated_at``. The
``rollouts`` table holds what a restart needs to finish or roll back a rollout that
was running when scalehook stopped: the target service, the image being rolled out,
the previous one, the strategy, and the phase (``rolling``, ``rolling_back``, ``done``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("status", sa.String(20), nullable=False, server_default="done"))
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "rollouts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("execution_id", sa.Integer, nullable=False, unique=True),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("image", sa.String(512), nullable=False),
        sa.Column("previous", sa.String(512), nullable=True),
        sa.Column("strategy", sa.JSON, nullable=False),
        sa.Column("phase", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_rollouts_target", "rollouts", ["target", "id"])
    op.create_index("ix_rollouts_phase", "rollouts", ["phase", "id"])


def downgrade() -> None:
    op.drop_index("ix_rollouts_phase", "rollouts")
    op.drop_index("ix_rollouts_target", "rollouts")
    op.drop_table("rollouts")
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("updated_at")
        batch.drop_column("status")
