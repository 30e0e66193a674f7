"""Read side of the query commands: groups, one group, crashes (as JSON-ready dicts).

Listing without filters reads the counts kept on the groups; with filters it aggregates the
matching crashes through the (group_id, ...) and crashed_at indexes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from ..errors import InputError, UsageError
from .models import DONE, Crash, Group, GroupFacet

SORTS = ("count", "last", "first")
_LISTS = {"python_version": "python_versions", "executable": "executables", "host": "hosts"}


@dataclass(frozen=True)
class Filters:
    since: datetime | None = None
    executable: str | None = None
    python: str | None = None
    host: str | None = None
    status: str | None = None
    group_id: int | None = None

    @property
    def narrows_groups(self) -> bool:
        return any((self.since, self.executable, self.python, self.host))


def conditions(filters: Filters) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if filters.since is not None:
        where.append(Crash.crashed_at >= filters.since)
    if filters.executable:
        # A base name matches wherever the executable was installed.
        where.append(
            or_(
                Crash.executable == filters.executable,
                Crash.executable.like(f"%/{_escape_like(filters.executable)}", escape="\\"),
            )
        )
    if filters.python:
        # "3.12" is 3.12 itself or any 3.12.x; a range ("3.12." up to "3.12/", the next
        # character) rather than LIKE, so that the index serves it on every backend.
        version = filters.python
        where.append(
            or_(
                Crash.python_version == version,
                and_(Crash.python_version >= f"{version}.", Crash.python_version < f"{version}/"),
            )
        )
    if filters.host:
        where.append(Crash.host == filters.host)
    if filters.status:
        where.append(Crash.status == filters.status)
    if filters.group_id is not None:
        where.append(Crash.group_id == filters.group_id)
    return where


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_groups(
    session: Session, filters: Filters, sort: str = "count", limit: int | None = 50
) -> list[dict[str, Any]]:
    """Groups as the JSON objects of DESIGN.md, most frequent (or latest, or oldest) first."""
    if sort not in SORTS:
        raise UsageError(f"--sort must be one of {', '.join(SORTS)}")
    if filters.narrows_groups:
        stats = _filtered_stats(session, filters, sort, limit)
        groups = {g.id: g for g in session.scalars(select(Group).where(Group.id.in_(stats)))}
        rows = [(groups[gid], *stats[gid]) for gid in stats if gid in groups]
    else:
        order = {
            "count": (Group.count.desc(), Group.id),
            "last": (Group.last_seen.desc(), Group.id),
            "first": (Group.first_seen.desc(), Group.id),
        }[sort]
        query = select(Group).where(Group.count > 0).order_by(*order).limit(limit)
        rows = [(g, g.count, g.first_seen, g.last_seen) for g in session.scalars(query)]
    facets = _facets(session, [row[0].id for row in rows])
    return [
        group_json(group, count, first, last, facets.get(group.id, {}))
        for group, count, first, last in rows
    ]


def _filtered_stats(
    session: Session, filters: Filters, sort: str, limit: int | None
) -> dict[int, tuple[int, datetime | None, datetime | None]]:
    count = func.count().label("n")
    first = func.min(Crash.crashed_at).label("first")
    last = func.max(Crash.crashed_at).label("last")
    order = {"count": count.desc(), "last": last.desc(), "first": first.desc()}[sort]
    query: Select[Any] = (
        select(Crash.group_id, count, first, last)
        .where(Crash.group_id.is_not(None), *conditions(filters))
        .group_by(Crash.group_id)
        .order_by(order, Crash.group_id)
        .limit(limit)
    )
    return {row[0]: (row[1], row[2], row[3]) for row in session.execute(query)}


def _facets(session: Session, group_ids: Sequence[int]) -> dict[int, dict[str, list[str]]]:
    """Distinct executables, Python versions and hosts of each group (the whole group)."""
    facets: dict[int, dict[str, list[str]]] = {gid: {} for gid in group_ids}
    if not group_ids:
        return facets
    query = (
        select(GroupFacet.group_id, GroupFacet.kind, GroupFacet.value)
        .where(GroupFacet.group_id.in_(group_ids))
        .order_by(GroupFacet.group_id, GroupFacet.kind, GroupFacet.value)
    )
    for group_id, kind, value in session.execute(query):
        facets[group_id].setdefault(_LISTS[kind], []).append(value)
    return facets


def group_json(
    group: Group,
    count: int,
    first: datetime | None,
    last: datetime | None,
    facets: dict[str, list[str]],
) -> dict[str, Any]:
    return {
        "id": group.id,
        "hash": group.hash,
        "signature": group.signature,
        "count": count,
        "first_seen": iso(first),
        "last_seen": iso(last),
        "executables": facets.get("executables", []),
        "python_versions": facets.get("python_versions", []),
        "hosts": facets.get("hosts", []),
        "rules_version": group.rules_version,
    }


def find_group(session: Session, key: str) -> Group:
    """GROUP as given on the command line: a numeric id or a prefix of the signature hash."""
    key = key.strip().lower()
    if key.isdigit():
        group = session.get(Group, int(key))
        if group is not None:
            return group
    if key and all(c in "0123456789abcdef" for c in key):
        matches = session.scalars(select(Group).where(Group.hash.like(f"{key}%")).limit(5)).all()
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            ids = ", ".join(str(g.id) for g in matches)
            raise UsageError(f"group hash prefix {key} is ambiguous (groups {ids}): give more")
    raise InputError(f"no group {key}")


def breakdown(session: Session, group_id: int) -> dict[str, list[tuple[str, int]]]:
    """Counts per Python version, executable and host, most frequent first."""
    result: dict[str, list[tuple[str, int]]] = {key: [] for key in _LISTS.values()}
    query = (
        select(GroupFacet.kind, GroupFacet.value, GroupFacet.count)
        .where(GroupFacet.group_id == group_id)
        .order_by(GroupFacet.count.desc(), GroupFacet.value)
    )
    for kind, value, count in session.execute(query):
        result[_LISTS[kind]].append((value, count))
    return result


def list_crashes(session: Session, filters: Filters, limit: int | None = 100) -> list[Crash]:
    query = select(Crash).where(*conditions(filters)).order_by(Crash.id.desc()).limit(limit)
    return list(session.scalars(query))


def representative(session: Session, group_id: int) -> Crash | None:
    """The newest analyzed crash of the group: its stack is the one shown."""
    query = (
        select(Crash)
        .where(Crash.group_id == group_id, Crash.status == DONE)
        .order_by(Crash.crashed_at.desc(), Crash.id.desc())
        .limit(1)
    )
    found = session.scalars(query).first()
    if found is None:  # only failed crashes (non-Python cores): show what there is
        fallback = select(Crash).where(Crash.group_id == group_id).order_by(Crash.id.desc())
        found = session.scalars(fallback.limit(1)).first()
    return found


def latest(session: Session, group_id: int, limit: int) -> list[Crash]:
    query = (
        select(Crash)
        .where(Crash.group_id == group_id)
        .order_by(Crash.crashed_at.desc(), Crash.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def crash_json(crash: Crash) -> dict[str, Any]:
    """A crash as the JSON object of DESIGN.md (plus a few additive fields)."""
    return {
        "id": crash.id,
        "path": crash.path,
        "sha256": crash.sha256,
        "status": crash.status,
        "error": crash.error,
        "group": crash.group_id,
        "received_at": iso(crash.received_at),
        "analyzed_at": iso(crash.analyzed_at),
        "executable": crash.executable,
        "python_version": crash.python_version,
        "signal": crash.signal,
        "host": crash.host,
        "crashed_at": iso(crash.crashed_at),
        "service": crash.service,
        "release": crash.release,
        "signature": crash.signature,
    }


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
