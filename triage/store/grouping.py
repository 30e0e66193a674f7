"""Groups: assign a crash to the group of its signature hash, and recompute everything."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..document import from_json, to_json
from ..model import Analysis
from ..signature import Signature
from . import Store
from .models import DONE, FACET_KINDS, FAILED, Crash, Group, GroupFacet, UTCDateTime, utcnow

RESIGN_BATCH = 500


@dataclass
class Outcome:
    """The result of analyzing one crash, as the pool reports it."""

    status: str  # DONE or FAILED
    error: str | None = None
    analysis: Analysis | None = None
    signature: Signature | None = None


def group_for(session: Session, signature: Signature) -> Group:
    """The group of SIGNATURE, created when new (safe against a concurrent creator)."""
    found = session.scalars(select(Group).where(Group.hash == signature.hash)).first()
    if found is not None:
        return found
    group = Group(
        hash=signature.hash,
        signature=signature.text,
        hashed_text=signature.hashed_text,
        rules_version=signature.rules_version,
        count=0,
        created_at=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(group)
            session.flush()
    except IntegrityError:
        found = session.scalars(select(Group).where(Group.hash == signature.hash)).first()
        if found is None:
            raise
        return found
    return group


def count_in(session: Session, group: Group, seen: datetime | None) -> None:
    """Add one crash seen at SEEN; one UPDATE, so that concurrent writers never lose a count."""
    values: dict[str, Any] = {"count": Group.count + 1}
    if seen is not None:
        at = literal(seen, UTCDateTime())
        # CASE rather than LEAST/GREATEST or min/max(a, b): the same SQL on every backend.
        values["first_seen"] = case(
            (or_(Group.first_seen.is_(None), Group.first_seen > at), at), else_=Group.first_seen
        )
        values["last_seen"] = case(
            (or_(Group.last_seen.is_(None), Group.last_seen < at), at), else_=Group.last_seen
        )
    session.execute(
        update(Group)
        .where(Group.id == group.id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def count_facets(session: Session, group_id: int, crash: Crash) -> None:
    """Add the crash's executable, Python version and host to its group's breakdowns."""
    for kind in FACET_KINDS:
        value = getattr(crash, kind)
        if not value:
            continue
        key = (GroupFacet.group_id == group_id, GroupFacet.kind == kind, GroupFacet.value == value)
        if _increment(session, key):
            continue
        try:
            with session.begin_nested():
                session.add(GroupFacet(group_id=group_id, kind=kind, value=value, count=1))
                session.flush()
        except IntegrityError:  # a concurrent writer created it: count on it
            _increment(session, key)


def _increment(session: Session, key: tuple[ColumnElement[bool], ...]) -> bool:
    result = session.execute(
        update(GroupFacet)
        .where(*key)
        .values(count=GroupFacet.count + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def record_outcome(store: Store, crash_id: int, outcome: Outcome) -> int | None:
    """Store the analysis of a claimed crash and count it in its group; returns the group id."""
    with store.session() as session:
        crash = session.get(Crash, crash_id)
        if crash is None:
            return None
        crash.status = outcome.status
        crash.error = outcome.error
        crash.analyzed_at = utcnow()
        crash.claimed_by = None
        if outcome.analysis is not None:
            crash.analysis = to_json(outcome.analysis)
            _fill_from_analysis(crash, outcome.analysis)
        group_id = None
        if outcome.signature is not None:
            group = group_for(session, outcome.signature)
            crash.signature = outcome.signature.text
            crash.rules_version = outcome.signature.rules_version
            crash.group_id = group.id
            count_in(session, group, crash.crashed_at or crash.received_at)
            count_facets(session, group.id, crash)
            group_id = group.id
        return group_id


def _fill_from_analysis(crash: Crash, analysis: Analysis) -> None:
    core = analysis.core
    # A collector's sidecar knows the executable better (the core may name a wrapper).
    crash.executable = (
        crash.executable or analysis.source.executable or (core.execfn if core else None)
    )
    crash.python_version = analysis.python_version_string
    crash.signal = core.signal_name if core is not None else None
    crash.pid = core.pid if core is not None else None


def resign(store: Store, compute: Callable[[Analysis], Signature]) -> tuple[int, int]:
    """Recompute every stored crash's signature; rebuild groups. Returns (crashes, groups).

    Groups whose hash is unchanged keep their id (bookmarks and reports stay valid); groups left
    empty are deleted; counts and first/last seen are recomputed from the crashes.
    """
    crashes = 0
    last_id = 0
    while True:
        with store.session() as session:
            rows = session.scalars(
                select(Crash)
                .where(Crash.id > last_id, Crash.analysis.is_not(None))
                .where(Crash.status.in_((DONE, FAILED)))
                .order_by(Crash.id)
                .limit(RESIGN_BATCH)
            ).all()
            if not rows:
                break
            for crash in rows:
                signature = compute(from_json(crash.analysis))
                group = group_for(session, signature)
                crash.signature = signature.text
                crash.rules_version = signature.rules_version
                crash.group_id = group.id
                crashes += 1
            last_id = rows[-1].id
    with store.session() as session:
        groups = _recount(session)
        _recount_facets(session)
        return crashes, groups


def _recount(session: Session) -> int:
    seen = func.coalesce(Crash.crashed_at, Crash.received_at)
    stats = (
        select(Crash.group_id, func.count(), func.min(seen), func.max(seen))
        .where(Crash.group_id.is_not(None))
        .group_by(Crash.group_id)
    )
    counted = {row[0]: row[1:] for row in session.execute(stats)}
    session.execute(delete(Group).where(Group.id.not_in(counted) if counted else true()))
    for group_id, (count, first, last) in counted.items():
        session.execute(
            update(Group)
            .where(Group.id == group_id)
            .values(count=count, first_seen=first, last_seen=last)
            .execution_options(synchronize_session=False)
        )
    return len(counted)


def _recount_facets(session: Session) -> None:
    session.execute(delete(GroupFacet))
    for kind in FACET_KINDS:
        column = getattr(Crash, kind)
        counted = (
            select(Crash.group_id, literal(kind), column, func.count())
            .where(Crash.group_id.is_not(None), column.is_not(None))
            .group_by(Crash.group_id, column)
        )
        session.execute(
            insert(GroupFacet).from_select(["group_id", "kind", "value", "count"], counted)
        )
