"""The read side: groups, their breakdowns, example crashes and crashes, for the CLI and the
report alike, so that `triage show` and a group page can never disagree.

Counts are computed once, as crashes are recorded: listing without filters reads the counts
kept on the groups and the breakdowns kept in ``group_facets``; with filters it aggregates the
matching crashes through the (group_id, ...) and crashed_at indexes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session, defer

from ..errors import InputError, UsageError
from ..versions import version_key
from .models import DONE, FACET_KINDS, FAILED, Crash, Group, GroupFacet

SORTS = ("count", "last", "first")
MAX_ID = 2**63 - 1  # a database integer: a larger "id" names no group
# The JSON list each facet kind is shown as (`groups --json`, `show --json`).
_LISTS = {
    "python_version": "python_versions",
    "executable": "executables",
    "host": "hosts",
    "release": "releases",
}
FACET_TITLES = {
    "python_version": "Python versions",
    "executable": "Executables",
    "host": "Hosts",
    "release": "Releases",
}
_VERSIONED = ("python_version", "release")  # sorted as versions, not as text


@dataclass(frozen=True)
class Filters:
    since: datetime | None = None
    executable: str | None = None
    python: str | None = None
    host: str | None = None
    status: str | None = None
    group_id: int | None = None
    kind: str | None = None  # crash or hang
    group_status: str | None = None  # new, resolved, regressed

    @property
    def narrows_groups(self) -> bool:
        return any((self.since, self.executable, self.python, self.host))


def group_conditions(filters: Filters) -> list[ColumnElement[bool]]:
    """What selects groups themselves (not their crashes)."""
    where: list[ColumnElement[bool]] = []
    if filters.kind:
        where.append(Group.kind == filters.kind)
    if filters.group_status:
        where.append(Group.status == filters.group_status)
    return where


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
    if filters.kind:
        where.append(Crash.kind == filters.kind)
    return where


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_groups(
    session: Session, filters: Filters, sort: str = "count", limit: int | None = 50
) -> list[dict[str, Any]]:
    """Groups as the JSON objects of `groups --json`, most frequent (or latest, oldest) first."""
    if sort not in SORTS:
        raise UsageError(f"--sort must be one of {', '.join(SORTS)}")
    if filters.narrows_groups:
        stats = _filtered_stats(session, filters, sort, limit)
        groups = {g.id: g for g in session.scalars(select(Group).where(Group.id.in_(stats)))}
        rows = [(groups[gid], *stats[gid]) for gid in stats if gid in groups]
    else:
        order: tuple[Any, ...] = {
            "count": (Group.count.desc(), Group.id),
            "last": (Group.last_seen.desc(), Group.id),
            "first": (Group.first_seen.desc(), Group.id),
        }[sort]
        query = select(Group).where(Group.count > 0, *group_conditions(filters))
        query = query.order_by(*order).limit(limit)
        rows = [(g, g.count, g.first_seen, g.last_seen) for g in session.scalars(query)]
    facets = _facets(session, {row[0].id: row[0].count for row in rows})
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
    order: Any = {
        "count": count.desc(),
        "last": last.desc(),
        "first": first.desc(),
    }[sort]
    query = (
        select(Crash.group_id, count, first, last)
        .join(Group, Group.id == Crash.group_id)
        .where(Crash.group_id.is_not(None), *conditions(filters))
        .where(*group_conditions(filters))
        .group_by(Crash.group_id)
        .order_by(order, Crash.group_id)
        .limit(limit)
    )
    return {
        row[0]: (row[1], row[2], row[3]) for row in session.execute(query) if row[0] is not None
    }


@dataclass(frozen=True)
class Facet:
    """How a group's crashes break down by one property (executable, Python version...)."""

    kind: str  # one of FACET_KINDS
    values: tuple[tuple[str, int], ...]  # most frequent first
    unknown: int  # crashes of the group that did not record this property

    @property
    def title(self) -> str:
        return FACET_TITLES[self.kind]

    @property
    def listed(self) -> list[str]:
        """The distinct values, in order (versions as versions)."""
        key = version_key if self.kind in _VERSIONED else str
        return sorted((value for value, _ in self.values), key=key)


def breakdowns(session: Session, counts: dict[int, int]) -> dict[int, tuple[Facet, ...]]:
    """The facets of each group (id → its crash count), in FACET_KINDS order."""
    found: dict[int, dict[str, list[tuple[str, int]]]] = {gid: {} for gid in counts}
    if counts:
        query = select(GroupFacet.group_id, GroupFacet.kind, GroupFacet.value, GroupFacet.count)
        query = query.where(GroupFacet.group_id.in_(list(counts)))
        for group_id, kind, value, count in session.execute(query):
            if kind in FACET_KINDS:
                found[group_id].setdefault(kind, []).append((value, count))
    return {
        gid: tuple(_facet(kind, found[gid].get(kind, []), n) for kind in FACET_KINDS)
        for gid, n in counts.items()
    }


def _facet(kind: str, values: list[tuple[str, int]], total: int) -> Facet:
    # Most frequent first; ties newest version first (versions) or in name order (the rest).
    if kind in _VERSIONED:
        ordered = sorted(values, key=lambda item: version_key(item[0]), reverse=True)
    else:
        ordered = sorted(values)
    ordered.sort(key=lambda item: -item[1])
    return Facet(kind, tuple(ordered), max(0, total - sum(n for _, n in values)))


def _facets(session: Session, groups: dict[int, int]) -> dict[int, dict[str, list[str]]]:
    """Distinct values of each facet of each group, as the JSON lists."""
    return {
        gid: {_LISTS[facet.kind]: facet.listed for facet in facets}
        for gid, facets in breakdowns(session, groups).items()
    }


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
        "releases": facets.get("releases", []),
        "rules_version": group.rules_version,
        "kind": group.kind,
        "status": group.status,
        "first_release": group.first_release,
        "last_release": group.last_release,
        "resolved_in": group.resolved_in,
    }


def find_group(session: Session, key: str) -> Group:
    """GROUP as given on the command line: a numeric id or a prefix of the signature hash."""
    key = key.strip().lower()
    if key.isascii() and key.isdigit() and int(key) <= MAX_ID:
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


# Crash rows listed without their JSON columns (read and decoded only if asked for): a list
# shows none of the analysis, which is most of a row.
WITHOUT_DOCUMENTS = (defer(Crash.analysis), defer(Crash.context))


def list_crashes(session: Session, filters: Filters, limit: int | None = 100) -> list[Crash]:
    query = select(Crash).where(*conditions(filters)).order_by(Crash.id.desc()).limit(limit)
    return list(session.scalars(query.options(*WITHOUT_DOCUMENTS)))


def representative_ids(session: Session, group_ids: Sequence[int]) -> dict[int, int]:
    """The example crash of each group: the one whose stack `show` and the group page show.

    The most informative analyzed crash (symbolized frames, locals: a stripped interpreter's
    crash of `???` frames tells least), then the newest; a group of failed crashes only still
    shows what there is. One ordering, one indexed ``LIMIT 1`` per group (a window over every
    crash of a group of a million would read them all).
    """
    found: dict[int, int] = {}
    for group_id in group_ids:
        for statuses in ((DONE,), (DONE, FAILED)):
            query = (
                select(Crash.id)
                .where(Crash.group_id == group_id, Crash.status.in_(statuses))
                .order_by(*_EXAMPLE_ORDER)
                .limit(1)
            )
            crash_id = session.scalars(query).first()
            if crash_id is not None:
                found[group_id] = crash_id
                break
    return found


# The most informative first, then the newest (ix_crashes_group_example serves it).
_EXAMPLE_ORDER = (
    Crash.quality.desc().nulls_last(),
    Crash.crashed_at.desc().nulls_last(),
    Crash.id.desc(),
)


def representative(session: Session, group_id: int) -> Crash | None:
    found = representative_ids(session, [group_id]).get(group_id)
    return session.get(Crash, found) if found is not None else None


def latest(session: Session, group_id: int, limit: int) -> list[Crash]:
    query = (
        select(Crash)
        .where(Crash.group_id == group_id)
        .order_by(Crash.crashed_at.desc(), Crash.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def crash_json(crash: Crash) -> dict[str, Any]:
    """A crash as the JSON object of `crashes --json`."""
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
        "kind": crash.kind,
        "pid": crash.pid,
        "core_deleted_at": iso(crash.core_deleted_at),
    }


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
