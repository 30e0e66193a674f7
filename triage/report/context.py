"""Page contexts: frozen dataclasses holding everything a template shows, built from records.

Building is separate from rendering so that it can be tested without jinja2, and so that a
template only ever formats values; it never decides what a crash means.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from ..model import Analysis
from ..store.queries import Facet
from . import paths
from .frames import SourceLookup, ThreadView, signed_thread_view, thread_views
from .records import CrashRecord, GroupRecord
from .trend import Sparkline, sparkline

OCCURRENCES_PER_PAGE = 100
MAX_PROBLEMS_LISTED = 200  # failed/pending cores on the index; the rest are counted
MAX_LISTED_VALUES = 5  # executables/versions/hosts per index row; the rest are "+N"


@dataclass(frozen=True)
class Moment:
    """A time shown as text and given to the browser (and the sort) in ISO form."""

    text: str  # "2024-05-01 12:03"
    iso: str  # "2024-05-01T12:03:07Z"
    epoch: int  # seconds, the key the browser sorts by


def moment(value: datetime | None) -> Moment | None:
    if value is None:
        return None
    return Moment(
        value.strftime("%Y-%m-%d %H:%M"),
        value.strftime("%Y-%m-%dT%H:%M:%SZ"),
        int(value.timestamp()),
    )


@dataclass
class GroupFacts:
    """What the index and a group page show of a group beyond its row: its breakdowns (the
    store's, the same `triage show` prints), its crashes per day and its newest crash."""

    facets: tuple[Facet, ...] = ()
    days: Counter[date] = field(default_factory=Counter)
    newest_crash_id: int | None = None

    def facet(self, kind: str) -> Facet:
        found = next((facet for facet in self.facets if facet.kind == kind), None)
        return found if found is not None else Facet(kind, (), 0)


@dataclass(frozen=True)
class CrashLink:
    """One crash as a row of a table (index problems, group occurrences)."""

    id: int
    href: str  # relative to the site root
    status: str
    time: Moment | None  # crashed, else received
    path: str
    error: str | None
    executable: str | None
    python_version: str | None
    host: str | None
    signal: str | None
    release: str | None


def crash_link(crash: CrashRecord) -> CrashLink:
    return CrashLink(
        id=crash.id,
        href=paths.crash_path(crash.id),
        status=crash.status,
        time=moment(crash.when),
        path=crash.path,
        error=crash.error,
        executable=crash.executable,
        python_version=crash.python_version,
        host=crash.host or crash.context_value("host"),
        signal=crash.signal,
        release=crash.context_value("release"),
    )


@dataclass(frozen=True)
class Listed:
    """A few values of a set, most frequent first, with how many more there are."""

    values: tuple[str, ...]
    more: int


def listed(facet: Facet, limit: int = MAX_LISTED_VALUES) -> Listed:
    """The most frequent values first (an unknown value counts as one more)."""
    ordered = [value for value, _ in facet.values]
    more = len(ordered) - limit + (1 if facet.unknown else 0)
    return Listed(tuple(ordered[:limit]), max(0, more))


@dataclass(frozen=True)
class GroupRow:
    id: int
    href: str
    signature: str
    count: int
    first_seen: Moment | None
    last_seen: Moment | None
    trend: Sparkline
    executables: Listed
    python_versions: Listed
    hosts: Listed
    newest_crash_href: str | None
    newest_crash_id: int | None


@dataclass(frozen=True)
class IndexPage:
    groups: tuple[GroupRow, ...]
    status_counts: tuple[tuple[str, int], ...]
    failed: int
    pending: int  # pending and analyzing
    problems: tuple[CrashLink, ...]  # newest failed/pending cores
    problems_more: int
    total_crashes: int
    today: date
    root: str = ""
    title: str = "Crash groups"


def build_index(
    groups: Sequence[GroupRecord],
    facts: Mapping[int, GroupFacts],
    status_counts: Mapping[str, int],
    problems: Sequence[CrashRecord],
    today: date,
) -> IndexPage:
    """The index: groups by last seen (newest first), then the cores that did not make it."""
    rows = tuple(
        _group_row(group, facts.get(group.id), today)
        for group in sorted(groups, key=_recency, reverse=True)
    )
    newest = sorted(problems, key=lambda crash: crash.id, reverse=True)
    return IndexPage(
        groups=rows,
        status_counts=tuple(sorted(status_counts.items())),
        failed=status_counts.get("failed", 0),
        pending=status_counts.get("pending", 0) + status_counts.get("analyzing", 0),
        problems=tuple(crash_link(crash) for crash in newest[:MAX_PROBLEMS_LISTED]),
        problems_more=max(0, len(newest) - MAX_PROBLEMS_LISTED),
        total_crashes=sum(status_counts.values()),
        today=today,
    )


def _recency(group: GroupRecord) -> tuple[float, int]:
    seen = group.last_seen.timestamp() if group.last_seen is not None else 0.0
    return (seen, group.id)


def _group_row(group: GroupRecord, facts: GroupFacts | None, today: date) -> GroupRow:
    facts = facts or GroupFacts()
    newest = facts.newest_crash_id
    return GroupRow(
        id=group.id,
        href=paths.group_path(group.id),
        signature=group.signature,
        count=group.count,
        first_seen=moment(group.first_seen),
        last_seen=moment(group.last_seen),
        trend=sparkline(facts.days, today),
        executables=listed(facts.facet("executable")),
        python_versions=listed(facts.facet("python_version")),
        hosts=listed(facts.facet("host")),
        newest_crash_href=paths.crash_path(newest) if newest is not None else None,
        newest_crash_id=newest,
    )


@dataclass(frozen=True)
class Breakdown:
    title: str
    items: tuple[tuple[str, int], ...]  # most frequent first


@dataclass(frozen=True)
class Pagination:
    page: int
    pages: int
    links: tuple[tuple[int, str], ...]  # (number, href) of every page
    previous: str | None
    next: str | None


@dataclass(frozen=True)
class GroupPage:
    id: int
    path: str  # where the page is written, relative to the site root
    signature: str
    signature_parts: tuple[str, ...]
    hash: str
    count: int
    first_seen: Moment | None
    last_seen: Moment | None
    trend: Sparkline
    breakdowns: tuple[Breakdown, ...]
    representative: CrashLink | None
    stack: ThreadView | None  # the representative crash's crashing thread
    occurrences: tuple[CrashLink, ...]  # this page's slice, newest first
    pagination: Pagination
    root: str = "../"

    @property
    def title(self) -> str:
        return f"Group {self.id}"


def build_group_pages(
    group: GroupRecord,
    crashes: Sequence[CrashRecord],
    representative: CrashRecord | None,
    facts: GroupFacts,
    today: date,
    with_locals: bool = True,
    per_page: int = OCCURRENCES_PER_PAGE,
) -> list[GroupPage]:
    """Every page of a group; ``crashes`` are its members (analysis not needed)."""
    ordered = sorted(crashes, key=lambda crash: crash.id, reverse=True)
    pages = max(1, -(-len(ordered) // per_page))
    links = tuple((number, paths.group_path(group.id, number)) for number in range(1, pages + 1))
    common = {
        "id": group.id,
        "signature": group.signature,
        "signature_parts": signature_parts(group.signature),
        "hash": group.hash,
        "count": group.count,
        "first_seen": moment(group.first_seen),
        "last_seen": moment(group.last_seen),
        "trend": sparkline(facts.days, today),
        "breakdowns": _breakdowns(facts),
        "representative": crash_link(representative) if representative else None,
        "stack": _representative_stack(representative, with_locals),
    }
    return [
        GroupPage(
            path=links[number - 1][1],
            occurrences=tuple(
                crash_link(crash) for crash in ordered[(number - 1) * per_page : number * per_page]
            ),
            pagination=Pagination(
                page=number,
                pages=pages,
                links=links,
                previous=links[number - 2][1] if number > 1 else None,
                next=links[number][1] if number < pages else None,
            ),
            **common,  # type: ignore[arg-type]
        )
        for number in range(1, pages + 1)
    ]


def signature_parts(signature: str) -> tuple[str, ...]:
    """The signature's tokens: titles join them with `` | `` (Socorro's convention)."""
    parts = tuple(part.strip() for part in signature.split(" | ") if part.strip())
    return parts if parts else (signature,)


def _breakdowns(facts: GroupFacts) -> tuple[Breakdown, ...]:
    """The store's facets; crashes that did not record a value are counted as "unknown"."""
    return tuple(
        Breakdown(
            facet.title,
            facet.values + ((("unknown", facet.unknown),) if facet.unknown else ()),
        )
        for facet in facts.facets
    )


def _representative_stack(crash: CrashRecord | None, with_locals: bool) -> ThreadView | None:
    return signed_thread_view(crash.analysis if crash else None, with_locals)


@dataclass(frozen=True)
class CrashPage:
    id: int
    path: str
    status: str
    error: str | None
    group_id: int | None
    group_href: str | None
    group_signature: str | None
    facts: tuple[tuple[str, str], ...]  # the core header, label → value
    argv: tuple[str, ...]
    executable: str | None
    core_path: str
    crashed: Moment | None
    received: Moment | None
    analyzed: Moment | None
    context: tuple[tuple[str, str], ...]
    threads: tuple[ThreadView, ...]
    warnings: tuple[str, ...]
    missing_libraries: tuple[str, ...]
    locals_shown: bool
    root: str = "../"

    @property
    def title(self) -> str:
        return f"Crash {self.id}"


def build_crash_page(
    crash: CrashRecord,
    group: GroupRecord | None,
    with_locals: bool = True,
    sources: SourceLookup | None = None,
) -> CrashPage:
    analysis = crash.analysis
    core = analysis.core if analysis is not None else None
    executable = crash.executable or (analysis.source.executable if analysis else None)
    return CrashPage(
        id=crash.id,
        path=paths.crash_path(crash.id),
        status=crash.status,
        error=crash.error or (analysis.error if analysis else None),
        group_id=group.id if group else None,
        group_href=paths.group_path(group.id) if group else None,
        group_signature=group.signature if group else None,
        facts=_header_facts(crash, analysis),
        argv=core.argv if core is not None else (),
        executable=executable,
        core_path=crash.path or (analysis.source.path if analysis else ""),
        crashed=moment(crash.crashed_at),
        received=moment(crash.received_at),
        analyzed=moment(crash.analyzed_at),
        context=crash.context,
        threads=thread_views(analysis, with_locals, sources) if analysis else (),
        warnings=analysis.warnings if analysis else (),
        missing_libraries=analysis.missing_libraries if analysis else (),
        locals_shown=with_locals,
    )


def _header_facts(crash: CrashRecord, analysis: Analysis | None) -> tuple[tuple[str, str], ...]:
    """The core header as PyStack prints it, leaving out what the core did not record."""
    core = analysis.core if analysis is not None else None
    signal_text = crash.signal
    if core is not None and core.signal:
        signal_text = f"{core.signal_name} ({core.signal})"
    candidates: tuple[tuple[str, object], ...] = (("Signal", signal_text),)
    if core is not None:
        candidates += (
            ("Fault address", hex(core.fault_address or 0) if core.is_fault else None),
            ("Sent by pid", core.sent_by),
        )
    candidates += (
        ("Python", crash.python_version or (analysis.python_version_string if analysis else None)),
    )
    if core is not None:
        candidates += (
            ("PID", core.pid),
            ("PPID", core.ppid),
            ("UID / GID", f"{core.uid} / {core.gid}"),
        )
    candidates += (("Host", crash.host), ("SHA-256", crash.sha256))
    return tuple((label, str(value)) for label, value in candidates if value not in (None, ""))
