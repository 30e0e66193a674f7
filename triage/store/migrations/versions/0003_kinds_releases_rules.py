"""Crash kinds (crash or hang), releases and triage state of groups, grouping rules by hand.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from triage.store.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("crashes") as batch:
        batch.add_column(sa.Column("kind", sa.String(8), nullable=True))
        batch.add_column(sa.Column("signature_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("core_deleted_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("quality", sa.Integer(), nullable=True))
    op.create_index("ix_crashes_signature_hash", "crashes", ["signature_hash"])
    op.create_index(
        "ix_crashes_group_example",
        "crashes",
        ["group_id", "status", "quality", "crashed_at", "id"],
    )
    with op.batch_alter_table("groups") as batch:
        batch.add_column(sa.Column("kind", sa.String(8), nullable=True))
        batch.add_column(sa.Column("first_release", sa.String(255), nullable=True))
        batch.add_column(sa.Column("last_release", sa.String(255), nullable=True))
        batch.add_column(sa.Column("status", sa.String(16), nullable=False, server_default="new"))
        batch.add_column(sa.Column("resolved_in", sa.String(255), nullable=True))
        batch.add_column(sa.Column("resolved_at", UTCDateTime(), nullable=True))
    op.create_table(
        "grouping_rules",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("target", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_grouping_rules_hash", "grouping_rules", ["hash"], unique=True)
    # Crashes grouped before this revision: their own hash is their group's, their kind is a
    # crash unless the stored signature says hang; releases are counted as a facet too.
    op.execute(
        "UPDATE crashes SET signature_hash = "
        "(SELECT hash FROM groups WHERE groups.id = crashes.group_id) "
        "WHERE group_id IS NOT NULL"
    )
    op.execute(
        "UPDATE crashes SET kind = CASE WHEN signature LIKE 'hang |%' THEN 'hang' ELSE 'crash' "
        "END WHERE status IN ('done', 'failed')"
    )
    op.execute(
        "UPDATE groups SET kind = CASE WHEN signature LIKE 'hang |%' THEN 'hang' ELSE 'crash' END"
    )
    op.execute(
        "INSERT INTO group_facets (group_id, kind, value, count) "
        "SELECT group_id, 'release', release, count(*) FROM crashes "
        "WHERE group_id IS NOT NULL AND release IS NOT NULL GROUP BY group_id, release"
    )


def downgrade() -> None:
    op.execute("DELETE FROM group_facets WHERE kind = 'release'")
    op.drop_index("ix_grouping_rules_hash", "grouping_rules")
    op.drop_table("grouping_rules")
    with op.batch_alter_table("groups") as batch:
        for column in ("resolved_at", "resolved_in", "status", "last_release", "first_release"):
            batch.drop_column(column)
        batch.drop_column("kind")
    op.drop_index("ix_crashes_group_example", "crashes")
    op.drop_index("ix_crashes_signature_hash", "crashes")
    with op.batch_alter_table("crashes") as batch:
        for column in ("quality", "core_deleted_at", "signature_hash", "kind"):
            batch.drop_column(column)
