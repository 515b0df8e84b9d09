"""policies

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27

One row per autoscaling policy: its unique name, the service it scales (as given), and
its body as given, in JSON (validated by the API before it is written).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_policies_service", "policies", ["service"])


def downgrade() -> None:
    op.drop_index("ix_policies_service", "policies")
    op.drop_table("policies")
