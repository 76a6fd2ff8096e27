"""registrations, results, proces-verbaal, mandate; variants and OKE ids

The student's open exams (R41) with their process instance, results provisional until established
(R38, R40), the proces-verbaal of a moment (R36), the committee's mandate to the examenbureau (R33),
the exam's own enrolment and assessment variants (R43, R50), OKE flow-2 ids of moments and
enrolments, and the called files of a process bundle. Written by hand.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 19:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("process_version") as batch:
        batch.add_column(sa.Column("called_xml", sa.JSON(), nullable=True))
    with op.batch_alter_table("exam") as batch:
        batch.add_column(sa.Column("cohort", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("enrolment_variant", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("assessment_variant", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("teacher_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("assessor_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_exam_teacher", "app_user", ["teacher_id"], ["id"])
        batch.create_foreign_key("fk_exam_assessor", "app_user", ["assessor_id"], ["id"])
    with op.batch_alter_table("exam_moment") as batch:
        batch.add_column(sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("surveillant_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("external_id", sa.String(length=100), nullable=True))
        batch.create_foreign_key("fk_exam_moment_surveillant", "app_user", ["surveillant_id"], ["id"])
        batch.create_unique_constraint("uq_exam_moment_external", ["school_id", "external_id"])

    op.create_table(
        "exam_registration",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("exam_id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=True),
        sa.Column("school_year", sa.String(length=9), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("extra_attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["exam_id"], ["exam.id"]),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instance.id"]),
        sa.ForeignKeyConstraint(["school_id"], ["school.id"]),
        sa.ForeignKeyConstraint(["student_id"], ["student.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("exam_id", "student_id"),
        sa.UniqueConstraint("instance_id"),
    )
    op.create_index("ix_exam_registration_school_id", "exam_registration", ["school_id"], unique=False)
    op.create_index("ix_exam_registration_student_id", "exam_registration", ["student_id"], unique=False)

    with op.batch_alter_table("enrolment") as batch:
        batch.add_column(sa.Column("registration_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("excused", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("external_id", sa.String(length=100), nullable=True))
        batch.create_foreign_key("fk_enrolment_registration", "exam_registration", ["registration_id"], ["id"])
        batch.create_unique_constraint("uq_enrolment_external", ["external_id"])
        batch.create_index("ix_enrolment_registration_id", ["registration_id"], unique=False)

    op.create_table(
        "mandate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("granted_by_id", sa.Integer(), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("revoked_by_id", sa.Integer(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["granted_by_id"], ["app_user.id"]),
        sa.ForeignKeyConstraint(["revoked_by_id"], ["app_user.id"]),
        sa.ForeignKeyConstraint(["school_id"], ["school.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_mandate_school_id", "mandate", ["school_id"], unique=False)

    op.create_table(
        "exam_result",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enrolment_id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("exam_version_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("cesuur", sa.Integer(), nullable=True),
        sa.Column("assessment_model", sa.JSON(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("visible", sa.Boolean(), nullable=False),
        sa.Column("assessed_by_id", sa.Integer(), nullable=True),
        sa.Column("assessed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("established_by_id", sa.Integer(), nullable=True),
        sa.Column("established_role", sa.String(length=30), nullable=True),
        sa.Column("established_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("mandate_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["assessed_by_id"], ["app_user.id"]),
        sa.ForeignKeyConstraint(["enrolment_id"], ["enrolment.id"]),
        sa.ForeignKeyConstraint(["established_by_id"], ["app_user.id"]),
        sa.ForeignKeyConstraint(["exam_version_id"], ["exam_version.id"]),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instance.id"]),
        sa.ForeignKeyConstraint(["mandate_id"], ["mandate.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("enrolment_id"),
    )
    op.create_index("ix_exam_result_instance_id", "exam_result", ["instance_id"], unique=False)
    op.create_index("ix_exam_result_exam_version_id", "exam_result", ["exam_version_id"], unique=False)

    op.create_table(
        "proces_verbaal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("moment_id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("surveillant_id", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("exam_version_id", sa.Integer(), nullable=False),
        sa.Column("version_number", sa.Integer(), nullable=False),
        sa.Column("cesuur", sa.Integer(), nullable=True),
        sa.Column("assessment_model", sa.JSON(), nullable=True),
        sa.Column("attendance", sa.JSON(), nullable=False),
        sa.Column("incidents", sa.Text(), nullable=False),
        sa.Column("outbox_message_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["exam_version_id"], ["exam_version.id"]),
        sa.ForeignKeyConstraint(["moment_id"], ["exam_moment.id"]),
        sa.ForeignKeyConstraint(["outbox_message_id"], ["outbox_message.id"]),
        sa.ForeignKeyConstraint(["school_id"], ["school.id"]),
        sa.ForeignKeyConstraint(["surveillant_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("moment_id"),
    )
    op.create_index("ix_proces_verbaal_school_id", "proces_verbaal", ["school_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_proces_verbaal_school_id", table_name="proces_verbaal")
    op.drop_table("proces_verbaal")
    op.drop_index("ix_exam_result_exam_version_id", table_name="exam_result")
    op.drop_index("ix_exam_result_instance_id", table_name="exam_result")
    op.drop_table("exam_result")
    op.drop_index("ix_mandate_school_id", table_name="mandate")
    op.drop_table("mandate")
    with op.batch_alter_table("enrolment") as batch:
        batch.drop_index("ix_enrolment_registration_id")
        batch.drop_constraint("uq_enrolment_external", type_="unique")
        batch.drop_constraint("fk_enrolment_registration", type_="foreignkey")
        batch.drop_column("external_id")
        batch.drop_column("excused")
        batch.drop_column("registration_id")
    op.drop_index("ix_exam_registration_student_id", table_name="exam_registration")
    op.drop_index("ix_exam_registration_school_id", table_name="exam_registration")
    op.drop_table("exam_registration")
    with op.batch_alter_table("exam_moment") as batch:
        batch.drop_constraint("uq_exam_moment_external", type_="unique")
        batch.drop_constraint("fk_exam_moment_surveillant", type_="foreignkey")
        batch.drop_column("external_id")
        batch.drop_column("surveillant_id")
        batch.drop_column("ends_at")
    with op.batch_alter_table("exam") as batch:
        batch.drop_constraint("fk_exam_assessor", type_="foreignkey")
        batch.drop_constraint("fk_exam_teacher", type_="foreignkey")
        batch.drop_column("assessor_id")
        batch.drop_column("teacher_id")
        batch.drop_column("assessment_variant")
        batch.drop_column("enrolment_variant")
        batch.drop_column("cohort")
    with op.batch_alter_table("process_version") as batch:
        batch.drop_column("called_xml")
