"""evidence, its lock, and chunked uploads

Attachments gain a kind (``bijlage`` for the assignment, ``bewijs`` for evidence, R20) and a mark for
evidence withdrawn before the lock (never deleted, R27); the exam's assignment records when the
evidence was locked (R23); ``upload`` holds a file being received in chunks so that a broken
connection resumes. Written by hand.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25 21:45:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("attachment") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=20), server_default="bijlage", nullable=False))
        batch.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("withdrawn_by_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_attachment_withdrawn_by_id_app_user", "app_user", ["withdrawn_by_id"], ["id"])
    with op.batch_alter_table("exam_assignment") as batch:
        batch.add_column(sa.Column("evidence_locked_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "upload",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("original_name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=200), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attachment_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instance.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"]),
        sa.ForeignKeyConstraint(["attachment_id"], ["attachment.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_upload_instance_id", "upload", ["instance_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_upload_instance_id", table_name="upload")
    op.drop_table("upload")
    with op.batch_alter_table("exam_assignment") as batch:
        batch.drop_column("evidence_locked_at")
    with op.batch_alter_table("attachment") as batch:
        batch.drop_constraint("fk_attachment_withdrawn_by_id_app_user", type_="foreignkey")
        batch.drop_column("withdrawn_by_id")
        batch.drop_column("withdrawn_at")
        batch.drop_column("kind")
