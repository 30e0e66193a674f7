"""Grouping by hand: merge groups that are one bug, split a group back into its signatures.

Each decision is also kept as a rule (``triage.store.rules``), so that crashes still to come and
`triage resign` follow it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..document import from_json
from ..signature import compute, load_config
from .grouping import recount
from .models import CRASH, HANG, NEW, Crash, Group, utcnow
from .rules import add_merge, add_split


def merge_groups(session: Session, target: Group, sources: Sequence[Group]) -> int:
    """Move every crash of SOURCES into TARGET; returns how many crashes moved."""
    moved = 0
    for source in sources:
        for signature_hash in _own_hashes(session, source):
            if signature_hash != target.hash:
                add_merge(session, signature_hash, target.hash)
        result = session.execute(
            update(Crash)
            .where(Crash.group_id == source.id)
            .values(group_id=target.id)
            .execution_options(synchronize_session=False)
        )
        moved += int(getattr(result, "rowcount", 0) or 0)
    session.flush()
    recount(session, [target.id, *(source.id for source in sources)])
    return moved


def split_group(session: Session, group: Group) -> list[int]:
    """Give every other signature in GROUP its own group again; returns the new group ids."""
    created = []
    for signature_hash in _own_hashes(session, group):
        if signature_hash == group.hash:
            continue
        add_split(session, signature_hash)
        home = _group_of(session, signature_hash)
        session.execute(
            update(Crash)
            .where(Crash.group_id == group.id, Crash.signature_hash == signature_hash)
            .values(group_id=home.id)
            .execution_options(synchronize_session=False)
        )
        created.append(home.id)
    session.flush()
    if created:
        recount(session, [group.id, *created])
    return created


def _own_hashes(session: Session, group: Group) -> list[str]:
    query = select(Crash.signature_hash).where(Crash.group_id == group.id).distinct()
    found = {h for h in session.scalars(query) if h}
    return sorted(found | {group.hash})


def _group_of(session: Session, signature_hash: str) -> Group:
    """The group of a signature split off: its own, or a new one named after its crashes."""
    found = session.scalars(select(Group).where(Group.hash == signature_hash)).first()
    if found is not None:
        return found
    sample = session.scalars(
        select(Crash).where(Crash.signature_hash == signature_hash).limit(1)
    ).first()
    text = sample.signature if sample is not None and sample.signature else signature_hash
    hashed_text, rules_version = "", ""
    if sample is not None and sample.analysis is not None:
        signature = compute(from_json(sample.analysis), load_config(None))
        if signature.hash == signature_hash:  # the rules that made it are still the rules
            hashed_text, rules_version = signature.hashed_text, signature.rules_version
    group = Group(
        hash=signature_hash,
        signature=text,
        hashed_text=hashed_text,
        rules_version=rules_version or (sample.rules_version if sample else "") or "",
        count=0,
        created_at=utcnow(),
        kind=HANG if text.startswith("hang ") else CRASH,
        status=NEW,
    )
    session.add(group)
    session.flush()
    return group
