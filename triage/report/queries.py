"""What the report reads from the store, turned into the plain records the pages are built from.

Queries select columns, not ORM objects: the report only reads, and 10,000 rows of plain tuples
cost a fraction of as many identity-mapped objects. Index facts are aggregated in SQL so the
index stays cheap however many crashes there are.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ..store import FAILED, PENDING, Crash, Group
from ..store.engine import wrapped_errors
from ..store.queries import breakdowns, representative_ids
from .context import GroupFacts
from .records import CrashRecord, GroupRecord, crash_record, group_record
from .trend import MAX_WINDOW_DAYS

PROBLEM_STATUSES = (FAILED, PENDING, "analyzing")
STREAM_BATCH = 500  # crash pages are rendered from a stream: memory stays flat
MAX_SPREAD_CRASHES = 500  # locals across a group: its newest crashes, a bounded read

# Everything a crash row holds except the analysis document (the big part).
_LIGHT = (
    Crash.id,
    Crash.status,
    Crash.path,
    Crash.sha256,
    Crash.host,
    Crash.received_at,
    Crash.analyzed_at,
    Crash.crashed_at,
    Crash.error,
    Crash.executable,
    Crash.python_version,
    Crash.signal,
    Crash.group_id,
    Crash.service,
    Crash.release,
    Crash.context,
)
_GROUP = (Group.id, Group.signature, Group.hash, Group.count, Group.first_seen, Group.last_seen)


@contextmanager
def reading(source: Any) -> Iterator[Session]:
    """A session from an Engine, a ``Store`` or a Session (used as is, left open)."""
    if isinstance(source, Session):
        with wrapped_errors(source.get_bind().engine.url):
            yield source
        return
    engine: Engine = getattr(source, "engine", source)
    with wrapped_errors(engine.url):
        with Session(engine) as session:
            yield session


def _crash(row: Any) -> CrashRecord:
    return crash_record(row._mapping)


def groups(session: Session, ids: Collection[int] | None = None) -> list[GroupRecord]:
    query = select(*_GROUP)
    if ids is not None:
        query = query.where(Group.id.in_(list(ids)))
    return [group_record(dict(row._mapping)) for row in session.execute(query)]


def status_counts(session: Session) -> dict[str, int]:
    query = select(Crash.status, func.count()).group_by(Crash.status)
    return {status: count for status, count in session.execute(query)}


def problems(session: Session, limit: int) -> list[CrashRecord]:
    """The newest failed, pending and analyzing cores (one more than shown, to say "more")."""
    query = (
        select(*_LIGHT)
        .where(Crash.status.in_(PROBLEM_STATUSES))
        .order_by(Crash.id.desc())
        .limit(limit)
    )
    return [_crash(row) for row in session.execute(query)]


def group_facts(
    session: Session, groups: Collection[GroupRecord], today: datetime
) -> dict[int, GroupFacts]:
    """Per group: the store's breakdowns, its triage state and releases, crashes per day over
    the longest trend window, the newest crash. The counts are the store's (kept as crashes are
    recorded), never recounted here."""
    counts = {group.id: group.count for group in groups}
    facts = {gid: GroupFacts(facets=facets) for gid, facets in breakdowns(session, counts).items()}
    if not facts:
        return facts
    wanted = Crash.group_id.in_(list(facts))
    state = select(
        Group.id,
        Group.kind,
        Group.status,
        Group.first_release,
        Group.last_release,
        Group.resolved_in,
    ).where(Group.id.in_(list(facts)))
    for row in session.execute(state):
        found = facts[row.id]
        found.kind, found.status, found.resolved_in = row.kind, row.status or "new", row.resolved_in
        found.first_release, found.last_release = row.first_release, row.last_release
    newest = select(Crash.group_id, func.max(Crash.id)).where(wanted).group_by(Crash.group_id)
    for group_id, crash_id in session.execute(newest):
        if group_id in facts:
            facts[group_id].newest_crash_id = crash_id
    # Days are bucketed here, not in SQL: date functions differ between SQLite and PostgreSQL.
    since = today - timedelta(days=MAX_WINDOW_DAYS)
    when = func.coalesce(Crash.crashed_at, Crash.received_at)
    recent = select(Crash.group_id, when).where(wanted, when >= since)
    for group_id, moment in session.execute(recent):
        if moment is not None and group_id in facts:
            facts[group_id].days[_utc(moment).date()] += 1
    return facts


def group_members(session: Session, group_id: int) -> list[CrashRecord]:
    query = select(*_LIGHT).where(Crash.group_id == group_id)
    return [_crash(row) for row in session.execute(query)]


def all_members(session: Session) -> dict[int, list[CrashRecord]]:
    """Every grouped crash (without analysis), by group: one query for a full render."""
    members: dict[int, list[CrashRecord]] = {}
    for row in session.execute(select(*_LIGHT).where(Crash.group_id.is_not(None))):
        crash = _crash(row)
        if crash.group_id is not None:
            members.setdefault(crash.group_id, []).append(crash)
    return members


def representatives(session: Session, group_ids: Collection[int]) -> dict[int, CrashRecord]:
    """The example crash of each group (the store's rule), with its analysis."""
    chosen = representative_ids(session, list(group_ids))
    if not chosen:
        return {}
    query = select(*_LIGHT, Crash.analysis).where(Crash.id.in_(list(chosen.values())))
    found: dict[int, CrashRecord] = {}
    for row in session.execute(query):
        crash = _crash(row)
        if crash.group_id is not None:
            found[crash.group_id] = crash
    return found


def group_analyses(
    session: Session, group_id: int, limit: int = MAX_SPREAD_CRASHES
) -> list[CrashRecord]:
    """The newest crashes of a group with their analysis (scrubbed by ``records``), for the
    locals across the group: bounded, so a group of a million crashes costs what 500 do."""
    when = func.coalesce(Crash.crashed_at, Crash.received_at)
    query = (
        select(*_LIGHT, Crash.analysis)
        .where(Crash.group_id == group_id, Crash.analysis.is_not(None))
        .order_by(when.desc(), Crash.id.desc())
        .limit(limit)
    )
    return [_crash(row) for row in session.execute(query)]


def crash_ids(session: Session) -> list[int]:
    return list(session.scalars(select(Crash.id).order_by(Crash.id)))


def crashes_with_analysis(
    session: Session,
    ids: Collection[int] | None = None,
    first: int | None = None,
    last: int | None = None,
) -> Iterator[CrashRecord]:
    """Crashes with their analysis (some ids, or ids first..last), streamed in batches."""
    query = select(*_LIGHT, Crash.analysis).order_by(Crash.id)
    if ids is not None:
        query = query.where(Crash.id.in_(list(ids)))
    if first is not None and last is not None:
        query = query.where(Crash.id.between(first, last))
    result = session.execute(query.execution_options(yield_per=STREAM_BATCH))
    for row in result:
        yield _crash(row)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
