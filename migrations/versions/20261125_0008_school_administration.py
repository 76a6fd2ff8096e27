"""school administration: groups, archiving, password reset, login throttle, settings history, task mail

Exam groups per cohort and crebo with their members (R6, R10); archiving with a retention date for
students and groups (R27); single-use password-reset links (R5); failed logins for the throttle; who
changed which school setting when; the per-user switch and watermark of the task mail; the kind of a bank
assignment (a supplementary one always needs establishing, R17). Written by hand.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 20:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(sa.Column("task_mail", sa.Boolean(), nullable=False, server_default=sa.text("true")))
        batch.add_column(sa.Column("task_mail_until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("assignment") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=20), nullable=False, server_default="opdracht"))
    with op.batch_alter_table("student") as batch:
        batch.add_column(sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("retain_until", sa.Date(), nullable=True))

    op.create_table(
        "exam_group",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("cohort", sa.String(length=20), nullable=False),
        sa.Column("crebo", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("archived_by_id", sa.Integer(), nullable=True),
        sa.Column("retain_until", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["archived_by_id"], ["app_user.id"]),
        sa.ForeignKeyConstraint(["school_id"], ["school.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("school_id", "name"),
    )
    op.create_index("ix_exam_group_school_id", "exam_group", ["school_id"], unique=False)

    op.create_table(
        "exam_group_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["exam_group.id"]),
        sa.ForeignKeyConstraint(["student_id"], ["student.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("group_id", "student_id"),
    )
    op.create_index("ix_exam_group_member_group_id", "exam_group_member", ["group_id"], unique=False)
    op.create_index("ix_exam_group_member_student_id", "exam_group_member", ["student_id"], unique=False)

    op.create_table(
        "password_reset",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("digest"),
    )
    op.create_index("ix_password_reset_user_id", "password_reset", ["user_id"], unique=False)

    op.create_table(
        "login_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_login_failure_email_at", "login_failure", ["email", "at"], unique=False)

    op.create_table(
        "school_setting_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("old_value", sa.JSON(), nullable=True),
        sa.Column("new_value", sa.JSON(), nullable=True),
        sa.Column("changed_by_id", sa.Integer(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["changed_by_id"], ["app_user.id"]),
        sa.ForeignKeyConstraint(["school_id"], ["school.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_school_setting_change_school_id", "school_setting_change", ["school_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_school_setting_change_school_id", table_name="school_setting_change")
    op.drop_table("school_setting_change")
    op.drop_index("ix_login_failure_email_at", table_name="login_failure")
    op.drop_table("login_failure")
    op.drop_index("ix_password_reset_user_id", table_name="password_reset")
    op.drop_table("password_reset")
    op.drop_index("ix_exam_group_member_student_id", table_name="exam_group_member")
    op.drop_index("ix_exam_group_member_group_id", table_name="exam_group_member")
    op.drop_table("exam_group_member")
    op.drop_index("ix_exam_group_school_id", table_name="exam_group")
    op.drop_table("exam_group")
    with op.batch_alter_table("student") as batch:
        batch.drop_column("retain_until")
        batch.drop_column("archived_at")
    with op.batch_alter_table("assignment") as batch:
        batch.drop_column("kind")
    with op.batch_alter_table("app_user") as batch:
        batch.drop_column("task_mail_until")
        batch.drop_column("task_mail")
