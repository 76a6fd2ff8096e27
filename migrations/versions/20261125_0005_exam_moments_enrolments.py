"""exam moments and enrolments

Exams with versions (R35), exam moments with capacity (R44), the Go (R42) and enrolments with
their accommodations (R37) and attempts (R45). Written by hand.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 19:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exam",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("crebo", sa.String(length=20), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["school_id"], ["school.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("school_id", "code"),
    )
    op.create_index("ix_exam_school_id", "exam", ["school_id"], unique=False)

    op.create_table(
        "exam_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("exam_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("established", sa.Boolean(), nullable=False),
        sa.Column("in_bank", sa.Boolean(), nullable=False),
        sa.Column("cesuur", sa.Integer(), nullable=True),
        sa.Column("assessment_model", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["exam_id"], ["exam.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("exam_id", "version"),
    )
    op.create_index("ix_exam_version_exam_id", "exam_version", ["exam_id"], unique=False)

    op.create_table(
        "exam_moment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("exam_version_id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("enrolled", sa.Integer(), nullable=False),
        sa.Column("enrol_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("enrol_until", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("enrolled >= 0 AND enrolled <= capacity", name="ck_exam_moment_capacity"),
        sa.ForeignKeyConstraint(["exam_version_id"], ["exam_version.id"]),
        sa.ForeignKeyConstraint(["school_id"], ["school.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_exam_moment_exam_version_id", "exam_moment", ["exam_version_id"], unique=False)
    op.create_index("ix_exam_moment_school_id", "exam_moment", ["school_id"], unique=False)

    op.create_table(
        "exam_go",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("exam_id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("given_by_id", sa.Integer(), nullable=False),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["exam_id"], ["exam.id"]),
        sa.ForeignKeyConstraint(["given_by_id"], ["app_user.id"]),
        sa.ForeignKeyConstraint(["student_id"], ["student.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("exam_id", "student_id"),
    )
    op.create_index("ix_exam_go_student_id", "exam_go", ["student_id"], unique=False)

    op.create_table(
        "enrolment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("moment_id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("exam_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("accommodations", sa.JSON(), nullable=False),
        sa.Column("previous_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["exam_id"], ["exam.id"]),
        sa.ForeignKeyConstraint(["moment_id"], ["exam_moment.id"]),
        sa.ForeignKeyConstraint(["previous_id"], ["enrolment.id"]),
        sa.ForeignKeyConstraint(["student_id"], ["student.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("moment_id", "student_id"),
    )
    op.create_index("ix_enrolment_student_exam", "enrolment", ["student_id", "exam_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_enrolment_student_exam", table_name="enrolment")
    op.drop_table("enrolment")
    op.drop_index("ix_exam_go_student_id", table_name="exam_go")
    op.drop_table("exam_go")
    op.drop_index("ix_exam_moment_school_id", table_name="exam_moment")
    op.drop_index("ix_exam_moment_exam_version_id", table_name="exam_moment")
    op.drop_table("exam_moment")
    op.drop_index("ix_exam_version_exam_id", table_name="exam_version")
    op.drop_table("exam_version")
    op.drop_index("ix_exam_school_id", table_name="exam")
    op.drop_table("exam")
