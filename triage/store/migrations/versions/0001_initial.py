"""Crashes (the queue) and groups.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from triage.store.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "groups",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("hashed_text", sa.Text(), nullable=False),
        sa.Column("rules_version", sa.String(64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_seen", UTCDateTime(), nullable=True),
        sa.Column("last_seen", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_groups_count", "groups", ["count"])
    op.create_index("ix_groups_last_seen", "groups", ["last_seen"])
    op.create_index("ix_groups_first_seen", "groups", ["first_seen"])
    op.create_table(
        "crashes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=True, unique=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(255), nullable=True),
        sa.Column("claimed_at", UTCDateTime(), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("crashed_at", UTCDateTime(), nullable=True),
        sa.Column("analyzed_at", UTCDateTime(), nullable=True),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("executable", sa.Text(), nullable=True),
        sa.Column("python_version", sa.String(32), nullable=True),
        sa.Column("signal", sa.String(32), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("analysis", sa.JSON(), nullable=True),
        sa.Column("signature", sa.Text(), nullable=True),
        sa.Column("rules_version", sa.String(64), nullable=True),
        sa.Column(
            "group_id",
            sa.Integer(),
            sa.ForeignKey("groups.id", ondelete="SET NULL"),
            nullable=True,
        ),
    )
    op.create_index("ix_crashes_status_id", "crashes", ["status", "id"])
    op.create_index("ix_crashes_path", "crashes", ["path"])
    op.create_index("ix_crashes_crashed_at", "crashes", ["crashed_at"])
    op.create_index("ix_crashes_group_crashed_at", "crashes", ["group_id", "crashed_at"])


def downgrade() -> None:
    op.drop_table("crashes")
    op.drop_table("groups")
