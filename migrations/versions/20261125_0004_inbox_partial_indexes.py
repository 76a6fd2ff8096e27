"""inbox partial indexes

"Mijn taken" (decision D6): the two indexes of D2 become partial indexes on open tasks, in the
inbox's order (created_at, id), one per branch of the visibility rule. Written by hand.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 18:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OPEN = "status = 'open'"
OPEN_UNASSIGNED = "status = 'open' AND assignee_id IS NULL"


def upgrade() -> None:
    op.drop_index("ix_human_task_assignee_open", table_name="human_task")
    op.drop_index("ix_human_task_school_role_open", table_name="human_task")
    op.create_index(
        "ix_human_task_open_assignee", "human_task", ["assignee_id", "created_at", "id"], unique=False,
        postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN),
    )
    op.create_index(
        "ix_human_task_open_unassigned", "human_task", ["school_id", "lane_role", "created_at", "id"], unique=False,
        postgresql_where=sa.text(OPEN_UNASSIGNED), sqlite_where=sa.text(OPEN_UNASSIGNED),
    )


def downgrade() -> None:
    op.drop_index("ix_human_task_open_unassigned", table_name="human_task")
    op.drop_index("ix_human_task_open_assignee", table_name="human_task")
    op.create_index("ix_human_task_school_role_open", "human_task",
                    ["school_id", "lane_role", "status", "created_at"], unique=False)
    op.create_index("ix_human_task_assignee_open", "human_task", ["assignee_id", "status", "created_at"],
                    unique=False)
