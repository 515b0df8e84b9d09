"""health checks

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27

One row per service whose health check was set through the API (or ``scalehook
apply``): the service's ref (``backend/name``) and the check as JSON. A check declared
in ``scalehook.yaml`` is read from the file at start, not kept here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "healthchecks",
        sa.Column("service", sa.String(200), primary_key=True),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("healthchecks")
