"""Recording the outcomes of many analyses in one transaction.

The one way analyses are recorded: one SELECT locks the batch's crash rows and says which are
still this watcher's, the groups are looked up together, and counts, breakdowns and crash rows
are written with one statement per kind (executemany) instead of a dozen ORM round trips per
crash. The result is the same as recording the outcomes one after the other, each in a batch
of its own, in the batch's order (a test compares the two).

On PostgreSQL the rows are locked in a fixed order (crashes, then groups, by id) so that
watchers recording batches at the same time wait for each other instead of deadlocking; a
deadlock that happens anyway (two new groups created in opposite orders) rolls the whole batch
back, and the caller records it again later: delayed, never half-recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..outcome import Outcome
from ..signature import Signature
from . import Store
from .grouping import group_for
from .models import (
    ANALYZING,
    FACET_KINDS,
    REGRESSED,
    RESOLVED,
    Crash,
    Group,
    GroupFacet,
    UTCDateTime,
    utcnow,
)
from .releases import later, regresses, release_of
from .rules import merge_targets

# Keys of a facet count: (group id, kind, value).
FacetKey = tuple[int, str, str]
# The tables, for Core statements with executemany (the ORM's per-row bookkeeping is the cost).
GROUPS = cast(Table, Group.__table__)
FACETS = cast(Table, GroupFacet.__table__)


@dataclass(frozen=True)
class Recorded:
    """What became of one outcome of a batch."""

    crash_id: int
    recorded: bool  # False: the claim was taken back by another watcher (or the row is gone)
    group_id: int | None = None


def record_outcomes(
    store: Store, identity: str, outcomes: Sequence[tuple[int, Outcome]]
) -> list[Recorded]:
    """Record OUTCOMES [(crash id, outcome)] of crashes claimed by IDENTITY, in one transaction.

    A crash no longer ``analyzing`` under a claim of IDENTITY (taken back as stale by another
    watcher, which analyzes it again) is left alone: recording it too would count it twice.
    Returns one entry per outcome, in order.
    """
    if not outcomes:
        return []
    with store.session() as session:
        rows = _claimed_rows(session, identity, [crash_id for crash_id, _ in outcomes])
        kept = []
        for crash_id, outcome in outcomes:
            # The same crash twice: the second finds it recorded, as it would one at a time.
            row = rows.pop(crash_id, None)
            if row is not None:
                kept.append((row, outcome))
        groups = _groups_of(session, [o.signature for _, o in kept if o.signature is not None])
        values = [_crash_values(row, outcome, groups) for row, outcome in kept]
        counted = [v for v in values if v.get("group_id") is not None]
        if counted:
            _count(session, counted)
        for crash in values:  # counting-only keys must not reach the UPDATE
            del crash["_seen"], crash["_host"]
        if values:  # (an empty parameter list would be a statement without parameters)
            # ORM bulk UPDATE by primary key: one executemany per set of columns written.
            session.execute(update(Crash), values)
    found = {v["id"]: v.get("group_id") for v in values}
    answers = []
    for crash_id, _ in outcomes:
        recorded = crash_id in found
        answers.append(Recorded(crash_id, recorded, found.pop(crash_id, None)))
    return answers


def _claimed_rows(session: Session, identity: str, ids: list[int]) -> dict[int, Any]:
    """The rows of IDS still analyzing under a claim of IDENTITY, locked until the commit (a
    watcher taking a claim back waits, then finds the crash recorded)."""
    query = (
        select(
            Crash.id,
            Crash.claimed_by,
            Crash.context,
            Crash.release,
            Crash.executable,
            Crash.host,
            Crash.crashed_at,
            Crash.received_at,
        )
        .where(Crash.id.in_(ids), Crash.status == ANALYZING)
        .order_by(Crash.id)
        .with_for_update()  # ignored by SQLite, whose writes are serialized
    )
    return {
        row.id: row
        for row in session.execute(query)
        if row.claimed_by is not None and row.claimed_by.split("#", 1)[0] == identity
    }


def _groups_of(session: Session, signatures: list[Signature]) -> dict[str, int]:
    """Signature hash -> the id of its group (merges made by hand followed), created when new.

    In the batch's order, as one crash after the other would: a group created for one
    signature is there for the next that merges into it.
    """
    hashes = list(dict.fromkeys(signature.hash for signature in signatures))
    targets = merge_targets(session, hashes)
    wanted = set(hashes) | {t for t in targets.values() if t is not None}
    query = select(Group.hash, Group.id).where(Group.hash.in_(wanted))
    existing = {hash_: group_id for hash_, group_id in session.execute(query)}
    chosen: dict[str, int] = {}
    for signature in signatures:
        if signature.hash in chosen:
            continue
        target = targets.get(signature.hash)
        if target is not None and target in existing:
            chosen[signature.hash] = existing[target]
        elif signature.hash in existing:
            chosen[signature.hash] = existing[signature.hash]
        else:  # new: created as group_for does (safe against a concurrent creator)
            group = group_for(session, signature)
            existing[group.hash] = chosen[signature.hash] = group.id
    return chosen


def _crash_values(row: Any, outcome: Outcome, groups: dict[str, int]) -> dict[str, Any]:
    """The columns an outcome writes to its crash's row (and, with ``_``, what counting needs)."""
    values: dict[str, Any] = {
        "id": row.id,
        "status": outcome.status,
        "error": outcome.error,
        "analyzed_at": utcnow(),
        "claimed_by": None,
        "release": row.release or release_of(row.context),
        "executable": row.executable,
    }
    facts = outcome.facts
    if outcome.document is not None:
        values["analysis"] = outcome.document
    if facts is not None:
        # A collector's sidecar knows the executable better (the core may name a wrapper).
        values["executable"] = row.executable or facts.executable
        values.update(
            python_version=facts.python_version,
            signal=facts.signal,
            pid=facts.pid,
            kind=facts.kind,
            quality=facts.quality,
        )
    signature = outcome.signature
    if signature is not None:
        values.update(
            signature=signature.text,
            signature_hash=signature.hash,
            rules_version=signature.rules_version,
            group_id=groups[signature.hash],
        )
    # Not written (the columns stay): what counting needs to know about the crash.
    values["_seen"] = row.crashed_at or row.received_at
    values["_host"] = row.host
    return values


def _count(session: Session, crashes: list[dict[str, Any]]) -> None:
    """Counts, first/last seen, breakdowns and releases of the crashes' groups."""
    by_group: dict[int, list[dict[str, Any]]] = {}
    for crash in crashes:
        by_group.setdefault(crash["group_id"], []).append(crash)
    group_ids = sorted(by_group)
    # Locked in id order before any is written: concurrent batches wait instead of deadlocking.
    locked = session.scalars(
        select(Group)
        .where(Group.id.in_(group_ids))
        .order_by(Group.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    _count_groups(session, by_group)
    count_facets(session, by_group)
    for group in locked:
        _note_releases(group, by_group[group.id])


def _count_groups(session: Session, by_group: dict[int, list[dict[str, Any]]]) -> None:
    """Add each group's crashes with one UPDATE (executemany), so that concurrent writers never
    lose a count."""
    params = []
    for group_id, crashes in sorted(by_group.items()):
        seen = [crash["_seen"] for crash in crashes if crash["_seen"] is not None]
        params.append(
            {
                "b_group": group_id,
                "b_count": len(crashes),
                "b_first": min(seen) if seen else None,
                "b_last": max(seen) if seen else None,
            }
        )
    first = bindparam("b_first", type_=UTCDateTime())
    last = bindparam("b_last", type_=UTCDateTime())
    # CASE rather than LEAST/GREATEST or min/max(a, b): the same SQL on every backend. Without
    # a time (None), both CASEs leave the column as it was.
    statement = (
        update(GROUPS)
        .where(GROUPS.c.id == bindparam("b_group"))
        .values(
            count=GROUPS.c.count + bindparam("b_count"),
            first_seen=case(
                (or_(Group.first_seen.is_(None), Group.first_seen > first), first),
                else_=Group.first_seen,
            ),
            last_seen=case(
                (or_(Group.last_seen.is_(None), Group.last_seen < last), last),
                else_=Group.last_seen,
            ),
        )
    )
    session.connection().execute(statement, params)


def count_facets(session: Session, by_group: dict[int, list[dict[str, Any]]]) -> None:
    """Add the crashes' executables, Python versions, hosts and releases to the breakdowns.

    BY_GROUP: group id -> the crashes' columns (``_host``: the host, which is not rewritten)."""
    added: dict[FacetKey, int] = {}
    for group_id, crashes in by_group.items():
        for crash in crashes:
            for kind in FACET_KINDS:
                value = crash["_host"] if kind == "host" else crash.get(kind)
                if value:
                    key = (group_id, kind, value)
                    added[key] = added.get(key, 0) + 1
    if not added:
        return
    table = FACETS
    present = {
        (row.group_id, row.kind, row.value)
        for row in session.execute(
            select(table.c.group_id, table.c.kind, table.c.value).where(
                table.c.group_id.in_(list(by_group))
            )
        )
    }
    old = [key for key in added if key in present]
    new = [key for key in added if key not in present]
    if old:
        _increment(session, [(key, added[key]) for key in old])
    if new:
        try:
            with session.begin_nested():
                session.connection().execute(
                    insert(table),
                    [
                        {"group_id": g, "kind": k, "value": v, "count": added[(g, k, v)]}
                        for g, k, v in new
                    ],
                )
        except IntegrityError:  # a concurrent writer created some: one at a time, then
            for key in new:
                _add_one(session, key, added[key])


def _increment(session: Session, counts: list[tuple[FacetKey, int]]) -> None:
    table = FACETS
    statement = (
        update(table)
        .where(
            table.c.group_id == bindparam("b_group"),
            table.c.kind == bindparam("b_kind"),
            table.c.value == bindparam("b_value"),
        )
        .values(count=table.c.count + bindparam("b_count"))
    )
    session.connection().execute(
        statement,
        [{"b_group": g, "b_kind": k, "b_value": v, "b_count": n} for (g, k, v), n in counts],
    )


def _add_one(session: Session, key: FacetKey, count: int) -> None:
    """Count on the facet KEY, created when missing (safe against a concurrent creator)."""
    table = FACETS
    group_id, kind, value = key
    where = (table.c.group_id == group_id, table.c.kind == kind, table.c.value == value)
    result = session.connection().execute(
        update(table).where(*where).values(count=table.c.count + count)
    )
    if getattr(result, "rowcount", 0):
        return
    try:
        with session.begin_nested():
            session.connection().execute(
                insert(table).values(group_id=group_id, kind=kind, value=value, count=count)
            )
    except IntegrityError:
        session.connection().execute(
            update(table).where(*where).values(count=table.c.count + count)
        )


def _note_releases(group: Group, crashes: list[dict[str, Any]]) -> None:
    """Widen the group's first/last release; flag a resolved group that crashes again (crash
    after crash, in the batch's order)."""
    for crash in crashes:
        release = crash["release"]
        if release:
            if group.first_release is None or later(group.first_release, release):
                group.first_release = release
            if group.last_release is None or later(release, group.last_release):
                group.last_release = release
        if group.status == RESOLVED and regresses(group, release, _seen(crash)):
            group.status = REGRESSED


def _seen(crash: dict[str, Any]) -> datetime | None:
    seen: datetime | None = crash["_seen"]
    return seen
