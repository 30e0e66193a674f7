"""Indexes for a fleet's database of a million crashes: `groups --since` read from an index.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # (crashed_at, group_id) covers the per-group counts of `groups --since`: the time range is
    # read from the index alone instead of fetching every crash row of the range. It serves
    # plain `--since` filters as well as the single-column index it replaces.
    op.create_index("ix_crashes_crashed_at_group", "crashes", ["crashed_at", "group_id"])
    op.drop_index("ix_crashes_crashed_at", "crashes")


def downgrade() -> None:
    op.create_index("ix_crashes_crashed_at", "crashes", ["crashed_at"])
    op.drop_index("ix_crashes_crashed_at_group", "crashes")
