"""attachments to an exam's assignment

Files the ROC-begeleider (or a student writing his own assignment) adds to an assignment (R18),
stored under their SHA-256; the row keeps the original name, type, size and who added it when.
Written by hand.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 20:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("original_name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=200), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=False),
        sa.Column("uploaded_role", sa.String(length=40), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instance.id"]),
        sa.ForeignKeyConstraint(["uploaded_by_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_attachment_instance_id", "attachment", ["instance_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_attachment_instance_id", table_name="attachment")
    op.drop_table("attachment")
