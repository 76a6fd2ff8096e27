"""process editor: school variants, change notes, drafts, the process owners' log

A process version may belong to one school (its own variant of a shipped default) and carries the
deployer's role and change note; a draft holds a process owner's work on a diagram and its forms;
``process_change`` logs every deploy and migration (issue 6). Written by hand.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 20:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("process_version") as batch:
        batch.add_column(sa.Column("school_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("change_note", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("deployed_role", sa.String(length=40), nullable=True))
        batch.create_foreign_key("fk_process_version_school", "school", ["school_id"], ["id"])
    with op.batch_alter_table("process_version") as batch:
        batch.alter_column("change_note", server_default=None)

    op.create_table(
        "process_draft",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("process_id", sa.String(length=100), nullable=False),
        sa.Column("bpmn_xml", sa.Text(), nullable=False),
        sa.Column("forms", sa.JSON(), nullable=False),
        sa.Column("base_version_id", sa.Integer(), nullable=True),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["base_version_id"], ["process_version.id"]),
        sa.ForeignKeyConstraint(["school_id"], ["school.id"]),
        sa.ForeignKeyConstraint(["updated_by_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("school_id", "process_id"),
    )
    op.create_table(
        "process_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=True),
        sa.Column("process_id", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["app_user.id"]),
        sa.ForeignKeyConstraint(["school_id"], ["school.id"]),
        sa.ForeignKeyConstraint(["version_id"], ["process_version.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_process_change_process", "process_change", ["process_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_process_change_process", table_name="process_change")
    op.drop_table("process_change")
    op.drop_table("process_draft")
    with op.batch_alter_table("process_version") as batch:
        batch.drop_constraint("fk_process_version_school", type_="foreignkey")
        batch.drop_column("deployed_role")
        batch.drop_column("change_note")
        batch.drop_column("school_id")
