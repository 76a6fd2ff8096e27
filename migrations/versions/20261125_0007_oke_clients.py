"""OKE clients

A school's planner or SIS that sends OKE flow 2 (sittings and enrolments) with OAuth2 client
credentials, acting as its own system account; only the secret's SHA-256 digest is stored.
Written by hand.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 20:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oke_client",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=60), nullable=False),
        sa.Column("secret_digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["school_id"], ["school.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("client_id"),
        sa.UniqueConstraint("user_id"),
    )
    op.create_index("ix_oke_client_school_id", "oke_client", ["school_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_oke_client_school_id", table_name="oke_client")
    op.drop_table("oke_client")
