"""Grouping decisions made by hand (`triage merge`, `triage split`), kept across `resign`."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from .models import MERGE, SPLIT, GroupingRule, utcnow

MAX_CHAIN = 16  # merges of merges; a longer chain (or a loop) is cut there


def merge_target(session: Session, signature_hash: str) -> str | None:
    """The hash whose group crashes of SIGNATURE_HASH join, None when they keep their own."""
    return merge_targets(session, [signature_hash])[signature_hash]


def add_merge(session: Session, source_hash: str, target_hash: str) -> None:
    """From now on (and after every resign) SOURCE_HASH's crashes join TARGET_HASH's group."""
    _set(session, GroupingRule(action=MERGE, hash=source_hash, target=target_hash))


def add_split(session: Session, signature_hash: str) -> None:
    """SIGNATURE_HASH's crashes keep a group of their own, whatever was merged before."""
    _set(session, GroupingRule(action=SPLIT, hash=signature_hash, target=None))


def _set(session: Session, rule: GroupingRule) -> None:
    session.execute(delete(GroupingRule).where(GroupingRule.hash == rule.hash))
    rule.created_at = utcnow()
    session.add(rule)
    session.flush()


def merge_targets(session: Session, hashes: list[str]) -> dict[str, str | None]:
    """The merge target of each of HASHES, reading the rules of all of them at once (one query
    per step along the longest chain, not one per hash and step)."""
    rules: dict[str, GroupingRule | None] = {}
    wanted = set(hashes)
    for _ in range(MAX_CHAIN + 1):
        wanted -= set(rules)
        if not wanted:
            break
        found = session.scalars(select(GroupingRule).where(GroupingRule.hash.in_(wanted)))
        rules.update({rule.hash: rule for rule in found})
        rules.update({h: None for h in wanted if h not in rules})
        wanted = {rule.target for rule in rules.values() if rule is not None and rule.target}
    return {h: _follow(rules, h) for h in hashes}


def _follow(rules: dict[str, GroupingRule | None], signature_hash: str) -> str | None:
    """The end of the chain of merges from SIGNATURE_HASH (cut at MAX_CHAIN or a loop)."""
    target = None
    current = signature_hash
    seen = {current}
    for _ in range(MAX_CHAIN):
        rule = rules.get(current)
        if rule is None or rule.action != MERGE or rule.target is None or rule.target in seen:
            break
        target = current = rule.target
        seen.add(current)
    return target
