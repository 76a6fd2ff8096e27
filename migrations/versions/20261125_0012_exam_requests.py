"""inspection and objection requests

A student's request for inspection (inzage) or his objection (bezwaar) against a result of one of his
exams (R34), each handled in its own ``inzage_bezwaar`` process by the examencommissie; the row links
that process to the exam it is about. Written by hand.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25 22:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exam_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("exam_instance_id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("result_key", sa.String(length=40), nullable=True),
        sa.Column("result_label", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=True),
        sa.Column("decision_text", sa.Text(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instance.id"]),
        sa.ForeignKeyConstraint(["exam_instance_id"], ["process_instance.id"]),
        sa.ForeignKeyConstraint(["school_id"], ["school.id"]),
        sa.ForeignKeyConstraint(["student_id"], ["student.id"]),
        sa.ForeignKeyConstraint(["decided_by_id"], ["app_user.id"]),
        sa.ForeignKeyConstraint(["created_by_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("instance_id"),
    )
    op.create_index("ix_exam_request_exam_instance_id", "exam_request", ["exam_instance_id"], unique=False)
    op.create_index("ix_exam_request_student_id", "exam_request", ["student_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_exam_request_student_id", table_name="exam_request")
    op.drop_index("ix_exam_request_exam_instance_id", table_name="exam_request")
    op.drop_table("exam_request")
