"""leases (the leader's, on PostgreSQL), and who runs each rollout

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

``leases``: one row per named lease (``leader``): the instance holding it and when it
expires, by the database's clock, so instances whose clocks differ agree. It is taken
and renewed by one statement that succeeds only for its holder or once it has expired.
``rollouts.instance``: the instance running a rollout (NULL: recorded, not yet picked
up by the leader), so a new leader can tell a rollout to resume from one to start.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("rollouts") as batch:
        batch.add_column(sa.Column("instance", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("rollouts") as batch:
        batch.drop_column("instance")
    op.drop_table("leases")
