"""The crash database: typed declarative models of crashes (the queue) and groups.

Column names are an interface: `triage report` and the `--json` output of the query
commands read them. Any change here needs a migration in ``migrations/versions``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from ..outcome import CRASH, DONE, FAILED, HANG

# The states of a crash: the database is the queue.
PENDING = "pending"
ANALYZING = "analyzing"
STATUSES = (PENDING, ANALYZING, DONE, FAILED)

KINDS = (CRASH, HANG)

# Where a group stands: new until someone resolves it; a resolved group that receives a crash
# from a later release (or, resolved without a release, any new crash) has regressed.
NEW = "new"
RESOLVED = "resolved"
REGRESSED = "regressed"
GROUP_STATUSES = (NEW, RESOLVED, REGRESSED)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes everywhere: SQLite hands back naive values, PostgreSQL aware ones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Group(Base):
    """Crashes with the same signature hash; counts are kept here so listing needs no scan."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    signature: Mapped[str] = mapped_column(Text)
    hashed_text: Mapped[str] = mapped_column(Text)  # exactly what was hashed (--explain)
    rules_version: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(default=0)
    first_seen: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    last_seen: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Revision 0003: crash or hang; releases seen; triage state.
    kind: Mapped[Optional[str]] = mapped_column(String(8))
    first_release: Mapped[Optional[str]] = mapped_column(String(255))
    last_release: Mapped[Optional[str]] = mapped_column(String(255))
    # The server default is the one revision 0003 gave the rows it added the column to.
    status: Mapped[str] = mapped_column(String(16), default=NEW, server_default=NEW)
    resolved_in: Mapped[Optional[str]] = mapped_column(String(255))  # the release with the fix
    resolved_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_groups_count", "count"),
        Index("ix_groups_last_seen", "last_seen"),
        Index("ix_groups_first_seen", "first_seen"),
    )


class Crash(Base):
    """One core file (unique by content) and its way through the queue."""

    __tablename__ = "crashes"

    id: Mapped[int] = mapped_column(primary_key=True)
    # NULL when the content could not be read (unreadable file) or is not a crash (empty file):
    # both NULL-tolerant unique indexes (SQLite, PostgreSQL) then let such rows coexist.
    sha256: Mapped[Optional[str]] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(Text)
    size: Mapped[Optional[int]] = mapped_column(BigInteger)
    mtime_ns: Mapped[Optional[int]] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    error: Mapped[Optional[str]] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_by: Mapped[Optional[str]] = mapped_column(String(255))  # host:pidns:pid:start#n
    claimed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    crashed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    analyzed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    host: Mapped[Optional[str]] = mapped_column(String(255))
    executable: Mapped[Optional[str]] = mapped_column(Text)
    python_version: Mapped[Optional[str]] = mapped_column(String(32))
    signal: Mapped[Optional[str]] = mapped_column(String(32))  # name: "SIGSEGV"
    pid: Mapped[Optional[int]] = mapped_column()
    analysis: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    signature: Mapped[Optional[str]] = mapped_column(Text)
    rules_version: Mapped[Optional[str]] = mapped_column(String(64))
    group_id: Mapped[Optional[int]] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"))
    # Added in schema revision 0002: the collector's sidecar file.
    service: Mapped[Optional[str]] = mapped_column(String(255))
    release: Mapped[Optional[str]] = mapped_column(String(255))
    context: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    # Revision 0003: crash or hang; the crash's own signature hash (its group may be another,
    # merged by hand); when retention deleted the core file (the analysis stays).
    kind: Mapped[Optional[str]] = mapped_column(String(8))
    signature_hash: Mapped[Optional[str]] = mapped_column(String(64))
    core_deleted_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # How much the stack tells (``triage.stack.informativeness``): picks a group's example.
    quality: Mapped[Optional[int]] = mapped_column()

    __table_args__ = (
        Index("ix_crashes_status_id", "status", "id"),  # claiming the oldest pending core
        Index("ix_crashes_path", "path"),  # backlog scan: is this file known already?
        # --since; with the group, `groups --since` counts from the index alone (revision 0004).
        Index("ix_crashes_crashed_at_group", "crashed_at", "group_id"),
        Index("ix_crashes_group_crashed_at", "group_id", "crashed_at"),  # show: latest first
        # Revision 0002: `groups` filters, each covering (filter, group, time) so that the
        # per-group counts of a filtered listing are read from the index alone.
        Index("ix_crashes_host_group", "host", "group_id", "crashed_at"),
        Index("ix_crashes_executable_group", "executable", "group_id", "crashed_at"),
        Index("ix_crashes_python_group", "python_version", "group_id", "crashed_at"),
        Index("ix_crashes_signature_hash", "signature_hash"),
        # A group's example crash: its most informative, then newest, analyzed crash.
        Index("ix_crashes_group_example", "group_id", "status", "quality", "crashed_at", "id"),
    )


# What a group's breakdowns count: each is also the name of the crash column counted.
FACET_KINDS = ("python_version", "executable", "host", "release")


class GroupFacet(Base):
    """How many crashes of a group have each executable, Python version and host.

    Kept up to date as crashes are recorded (and rebuilt by `triage resign`), so that listing
    groups with their facets and `show`'s breakdowns never scan the crashes (revision 0002).
    """

    __tablename__ = "group_facets"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(Text, primary_key=True)
    count: Mapped[int] = mapped_column(default=0)


MERGE = "merge"
SPLIT = "split"


class GroupingRule(Base):
    """A decision by hand about grouping, kept across `triage resign` (revision 0003).

    ``merge``: crashes whose own signature hash is ``hash`` go to the group of ``target``.
    ``split``: crashes of ``hash`` keep a group of their own even if a merge said otherwise.
    """

    __tablename__ = "grouping_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    action: Mapped[str] = mapped_column(String(8))
    hash: Mapped[str] = mapped_column(String(64))
    target: Mapped[Optional[str]] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_grouping_rules_hash", "hash", unique=True),)
