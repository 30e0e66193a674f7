"""Groups: assign a crash to the group of its signature hash, and recompute everything."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from sqlalchemy import (
    delete,
    func,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..document import from_json
from ..model import Analysis
from ..signature import Signature
from ..signature.generator import HANG as HANG_PREFIX
from ..versions import version_key
from . import Store
from .models import (
    CRASH,
    DONE,
    FACET_KINDS,
    HANG,
    NEW,
    Crash,
    Group,
    GroupFacet,
    utcnow,
)
from .rules import merge_target

RESIGN_BATCH = 500


def group_for(session: Session, signature: Signature) -> Group:
    """The group of SIGNATURE, created when new (safe against a concurrent creator).

    A merge made by hand sends the signature to its target's group while that group exists.
    """
    target = merge_target(session, signature.hash)
    if target is not None:
        merged = session.scalars(select(Group).where(Group.hash == target)).first()
        if merged is not None:
            return merged
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
        kind=HANG if signature.text.startswith(f"{HANG_PREFIX} ") else CRASH,
        status=NEW,
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


@dataclass
class ResignReport:
    """What `triage resign` did (or, with ``dry_run``, would do)."""

    crashes: int = 0  # crashes whose signature was recomputed
    groups: int = 0  # groups afterwards
    moved: int = 0  # crashes that change group
    # new group hash -> (its signature, the old group ids that end up in it, crashes moved)
    merges: dict[str, tuple[str, set[int], int]] = field(default_factory=dict)
    # old group id -> the new group hashes its crashes spread over
    splits: dict[int, set[str]] = field(default_factory=dict)


def resign(
    store: Store, compute: Callable[[Analysis], Signature], dry_run: bool = False
) -> ResignReport:
    """Recompute every analyzed crash's signature and rebuild the groups.

    Groups whose hash is unchanged keep their id (bookmarks and reports stay valid); merges made
    by hand hold; groups left empty are deleted; counts, first/last seen, releases and
    breakdowns are recomputed from the crashes. With DRY_RUN nothing is written: the report
    says which groups would merge or split and how many crashes would move. Failed crashes
    keep no group.
    """
    report = ResignReport()
    spread: dict[int, set[str]] = {}
    last_id = 0
    while True:
        with store.session() as session:
            rows = session.scalars(
                select(Crash)
                .where(Crash.id > last_id, Crash.analysis.is_not(None), Crash.status == DONE)
                .order_by(Crash.id)
                .limit(RESIGN_BATCH)
            ).all()
            if not rows:
                break
            old_hashes = _group_hashes(session, {c.group_id for c in rows if c.group_id})
            for crash in rows:
                signature = compute(from_json(crash.analysis))
                target = merge_target(session, signature.hash) or signature.hash
                old = old_hashes.get(crash.group_id) if crash.group_id else None
                _account(report, spread, crash.group_id, old, target, signature.text)
                if not dry_run:
                    group = group_for(session, signature)
                    crash.signature = signature.text
                    crash.signature_hash = signature.hash
                    crash.rules_version = signature.rules_version
                    crash.group_id = group.id
            last_id = rows[-1].id
    targets = len(report.merges)
    report.merges = {h: m for h, m in report.merges.items() if len(m[1]) > 1}
    report.splits = {g: hashes for g, hashes in spread.items() if len(hashes) > 1}
    if dry_run:
        report.groups = targets
        return report
    with store.session() as session:
        session.execute(
            update(Crash)
            .where(Crash.status != DONE, Crash.group_id.is_not(None))
            .values(group_id=None)
            .execution_options(synchronize_session=False)
        )
        report.groups = _recount(session)
        _recount_facets(session)
        _recount_releases(session)
    return report


def _group_hashes(session: Session, group_ids: set[int]) -> dict[int, str]:
    if not group_ids:
        return {}
    query = select(Group.id, Group.hash).where(Group.id.in_(group_ids))
    return {group_id: hash_ for group_id, hash_ in session.execute(query)}


def _account(
    report: ResignReport,
    spread: dict[int, set[str]],
    group_id: int | None,
    old_hash: str | None,
    new_hash: str,
    text: str,
) -> None:
    report.crashes += 1
    moved = old_hash != new_hash
    report.moved += moved
    title, sources, count = report.merges.get(new_hash, (text, set(), 0))
    if group_id is not None:
        sources.add(group_id)
        spread.setdefault(group_id, set()).add(new_hash)
    report.merges[new_hash] = (title, sources, count + moved)


def _recount_releases(session: Session, group_ids: Collection[int] | None = None) -> None:
    """First and last release of the groups, compared as versions (not as text)."""
    releases: dict[int, list[str]] = {}
    query = select(GroupFacet.group_id, GroupFacet.value).where(GroupFacet.kind == "release")
    groups = select(Group)
    if group_ids is not None:
        query = query.where(GroupFacet.group_id.in_(list(group_ids)))
        groups = groups.where(Group.id.in_(list(group_ids)))
    for group_id, value in session.execute(query):
        releases.setdefault(group_id, []).append(value)
    for group in session.scalars(groups):
        ordered = sorted(releases.get(group.id, []), key=version_key)
        group.first_release = ordered[0] if ordered else None
        group.last_release = ordered[-1] if ordered else None
        group.kind = HANG if group.signature.startswith(f"{HANG_PREFIX} ") else CRASH


def _recount(session: Session, group_ids: Collection[int] | None = None) -> int:
    """Counts and first/last seen of the groups (all, or GROUP_IDS) from their crashes; a
    group left without crashes is deleted."""
    seen = func.coalesce(Crash.crashed_at, Crash.received_at)
    stats = (
        select(Crash.group_id, func.count(), func.min(seen), func.max(seen))
        .where(Crash.group_id.is_not(None))
        .group_by(Crash.group_id)
    )
    if group_ids is not None:
        stats = stats.where(Crash.group_id.in_(list(group_ids)))
    counted = {row[0]: row[1:] for row in session.execute(stats)}
    emptied = delete(Group).where(Group.id.not_in(counted) if counted else true())
    if group_ids is not None:
        emptied = emptied.where(Group.id.in_(list(group_ids)))
    session.execute(emptied)
    for group_id, (count, first, last) in counted.items():
        session.execute(
            update(Group)
            .where(Group.id == group_id)
            .values(count=count, first_seen=first, last_seen=last)
            .execution_options(synchronize_session=False)
        )
    return len(counted)


def recount(session: Session, group_ids: Collection[int]) -> None:
    """Everything counted about GROUP_IDS, from their crashes (after crashes moved by hand)."""
    _recount(session, group_ids)
    _recount_facets(session, group_ids)
    _recount_releases(session, group_ids)


def _recount_facets(session: Session, group_ids: Collection[int] | None = None) -> None:
    stale = delete(GroupFacet)
    if group_ids is not None:
        stale = stale.where(GroupFacet.group_id.in_(list(group_ids)))
    session.execute(stale)
    for kind in FACET_KINDS:
        column = getattr(Crash, kind)
        counted = (
            select(Crash.group_id, literal(kind), column, func.count())
            .where(Crash.group_id.is_not(None), column.is_not(None))
            .group_by(Crash.group_id, column)
        )
        if group_ids is not None:
            counted = counted.where(Crash.group_id.in_(list(group_ids)))
        session.execute(
            insert(GroupFacet).from_select(["group_id", "kind", "value", "count"], counted)
        )
