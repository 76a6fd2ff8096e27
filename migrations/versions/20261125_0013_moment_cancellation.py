"""exam moment cancellation

An exam moment (a sitting) can be cancelled before it starts, by the examenbureau or the planner's
OKE client: who, when and why are kept on the moment, which then takes no enrolments. Written by hand.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-25 23:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite adds a column with a foreign key only by copying the table.
    with op.batch_alter_table("exam_moment") as batch_op:
        batch_op.add_column(sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("cancelled_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("cancel_reason", sa.Text(), nullable=True))
        batch_op.create_foreign_key("fk_exam_moment_cancelled_by_id_app_user", "app_user", ["cancelled_by_id"],
                                    ["id"])


def downgrade() -> None:
    with op.batch_alter_table("exam_moment") as batch_op:
        batch_op.drop_constraint("fk_exam_moment_cancelled_by_id_app_user", type_="foreignkey")
        batch_op.drop_column("cancel_reason")
        batch_op.drop_column("cancelled_by_id")
        batch_op.drop_column("cancelled_at")
