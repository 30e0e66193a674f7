"""Collector sidecar context (service, release, tags...), group facets, query indexes.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("crashes") as batch:
        batch.add_column(sa.Column("service", sa.String(255), nullable=True))
        batch.add_column(sa.Column("release", sa.String(255), nullable=True))
        batch.add_column(sa.Column("context", sa.JSON(), nullable=True))
    op.create_index("ix_crashes_host_group", "crashes", ["host", "group_id", "crashed_at"])
    op.create_index(
        "ix_crashes_executable_group", "crashes", ["executable", "group_id", "crashed_at"]
    )
    op.create_index(
        "ix_crashes_python_group", "crashes", ["python_version", "group_id", "crashed_at"]
    )
    op.create_table(
        "group_facets",
        sa.Column(
            "group_id",
            sa.Integer(),
            sa.ForeignKey("groups.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("value", sa.Text(), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
    )
    # Databases of revision 0001 already have crashes in groups: count their facets now.
    for kind in ("python_version", "executable", "host"):
        op.execute(
            f"INSERT INTO group_facets (group_id, kind, value, count) "
            f"SELECT group_id, '{kind}', {kind}, count(*) FROM crashes "
            f"WHERE group_id IS NOT NULL AND {kind} IS NOT NULL GROUP BY group_id, {kind}"
        )


def downgrade() -> None:
    op.drop_table("group_facets")
    op.drop_index("ix_crashes_python_group", "crashes")
    op.drop_index("ix_crashes_executable_group", "crashes")
    op.drop_index("ix_crashes_host_group", "crashes")
    with op.batch_alter_table("crashes") as batch:
        batch.drop_column("context")
        batch.drop_column("release")
        batch.drop_column("service")
