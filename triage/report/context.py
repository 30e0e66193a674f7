"""Page contexts: frozen dataclasses holding everything a template shows, built from records.

Building is separate from rendering so that it can be tested without jinja2, and so that a
template only ever formats values; it never decides what a crash means.
"""

from __future__ import annotations

import posixpath
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from ..model import Analysis
from ..stack import crashing_thread
from ..store.queries import Facet
from . import paths
from .frames import SourceLookup, ThreadView, signed_thread_view, thread_views
from .records import CrashRecord, GroupRecord
from .spread import LocalsSpread
from .trend import Sparkline, active_window, recent, sparkline
from .values import MAX_EXECUTABLES, Executable, Versions, executables, ranks, versions

OCCURRENCES_PER_PAGE = 100
MAX_PROBLEMS_LISTED = 200  # failed/pending cores on the index; the rest are counted
MAX_LISTED_VALUES = 5  # executables/versions/hosts per index row; the rest are "+N"
MAX_HOSTS_NAMED = 2  # hosts named on an index row; the count says how many there are
# The index's status column, worst first: what needs a look before what is being handled.
STATUS_ORDER = {"regressed": 0, "new": 1, "resolved": 2}


@dataclass(frozen=True)
class Moment:
    """A time shown as text and given to the browser (and the sort) in ISO form."""

    text: str  # "2024-05-01 12:03"
    iso: str  # "2024-05-01T12:03:07Z"
    epoch: int  # seconds, the key the browser sorts by

    @property
    def day(self) -> str:
        """The date alone, where a table has no room for the time (shown on hover)."""
        return self.text.split(" ", 1)[0]


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
    kind: str | None = None  # crash or hang
    status: str = "new"  # new, resolved, regressed
    first_release: str | None = None
    last_release: str | None = None
    resolved_in: str | None = None

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

    @property
    def executable_name(self) -> str:
        """The base name a table shows; the full path goes in its hover title."""
        if not self.executable:
            return ""
        return posixpath.basename(self.executable.rstrip("/")) or self.executable


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
    kind: str | None
    status: str
    status_rank: int  # sort key: regressed first
    count: int
    recent: int  # crashes in the last RECENT_DAYS days
    first_seen: Moment | None
    last_seen: Moment | None
    first_release: str | None
    last_release: str | None
    release_rank: int  # sort key of last_release among the index's releases (versions)
    trend: Sparkline
    executables: tuple[Executable, ...]
    executables_more: int
    python: Versions
    python_rank: int  # sort key of the newest version among the index's versions
    hosts: Listed
    host_count: int
    newest_crash_href: str | None
    newest_crash_id: int | None

    @property
    def is_hang(self) -> bool:
        return self.kind == "hang"


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
    regressed: int = 0  # groups that came back after being resolved
    root: str = ""
    title: str = "Crash groups"


def build_index(
    groups: Sequence[GroupRecord],
    facts: Mapping[int, GroupFacts],
    status_counts: Mapping[str, int],
    problems: Sequence[CrashRecord],
    today: date,
) -> IndexPage:
    """The index: the worst groups first, then the cores that did not make it.

    Worst: most crashes in the last days, then most crashes, then the latest; the page's own
    order is the default sort, so that it holds without the script.
    """
    known = {group.id: facts.get(group.id) or GroupFacts() for group in groups}
    pythons = ranks(versions(fact.facet("python_version")).newest for fact in known.values())
    releases = ranks(fact.last_release for fact in known.values())
    rows = [_group_row(group, known[group.id], today, pythons, releases) for group in groups]
    rows.sort(key=_worst, reverse=True)
    newest = sorted(problems, key=lambda crash: crash.id, reverse=True)
    return IndexPage(
        groups=tuple(rows),
        status_counts=tuple(sorted(status_counts.items())),
        failed=status_counts.get("failed", 0),
        pending=status_counts.get("pending", 0) + status_counts.get("analyzing", 0),
        problems=tuple(crash_link(crash) for crash in newest[:MAX_PROBLEMS_LISTED]),
        problems_more=max(0, len(newest) - MAX_PROBLEMS_LISTED),
        total_crashes=sum(status_counts.values()),
        today=today,
        regressed=sum(1 for row in rows if row.status == "regressed"),
    )


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


def _worst(row: GroupRow) -> tuple[int, int, int, int]:
    seen = row.last_seen.epoch if row.last_seen is not None else 0
    return (row.recent, row.count, seen, row.id)


def _group_row(
    group: GroupRecord,
    facts: GroupFacts,
    today: date,
    pythons: Mapping[str, int],
    releases: Mapping[str, int],
) -> GroupRow:
    newest = facts.newest_crash_id
    first_day = _day(group.first_seen)
    python = versions(facts.facet("python_version"))
    executable = facts.facet("executable")
    named = executables(executable, limit=len(executable.values))
    shown = named[:MAX_EXECUTABLES]
    host = facts.facet("host")
    return GroupRow(
        id=group.id,
        href=paths.group_path(group.id),
        signature=group.signature,
        kind=facts.kind,
        status=facts.status,
        status_rank=STATUS_ORDER.get(facts.status, len(STATUS_ORDER)),
        count=group.count,
        recent=recent(facts.days, today),
        first_seen=moment(group.first_seen),
        last_seen=moment(group.last_seen),
        first_release=facts.first_release,
        last_release=facts.last_release,
        release_rank=releases.get(facts.last_release or "", 0),
        trend=sparkline(facts.days, today, active_window(first_day, today)),
        executables=shown,
        executables_more=len(named) - len(shown),  # by base name, as shown
        python=python,
        python_rank=pythons.get(python.newest or "", 0),
        hosts=listed(host, MAX_HOSTS_NAMED),
        host_count=len(host.values),
        newest_crash_href=paths.crash_path(newest) if newest is not None else None,
        newest_crash_id=newest,
    )


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    percent: float  # of the group's crashes: the bar's length

    @property
    def share(self) -> str:
        return f"{self.percent:.0f}%" if self.percent >= 1 else "<1%"


@dataclass(frozen=True)
class Breakdown:
    title: str
    items: tuple[tuple[str, int], ...]  # most frequent first

    @property
    def bars(self) -> tuple[Bar, ...]:
        total = sum(count for _, count in self.items) or 1
        return tuple(
            Bar(label, count, round(100 * count / total, 1)) for label, count in self.items
        )


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
    representative_reason: str | None  # why this crash is the example
    stack: ThreadView | None  # the representative's signed thread, innermost frame first
    occurrences: tuple[CrashLink, ...]  # this page's slice, newest first
    pagination: Pagination
    kind: str | None = None
    status: str = "new"
    first_release: str | None = None
    last_release: str | None = None
    resolved_in: str | None = None
    spread: LocalsSpread | None = None  # locals across the group; None: none recorded
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
    spread: LocalsSpread | None = None,
) -> list[GroupPage]:
    """Every page of a group; ``crashes`` are its members (analysis not needed); ``spread``
    is the locals across the group (``spread.locals_spread``), left out without locals."""
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
        "trend": sparkline(facts.days, today, active_window(_day(group.first_seen), today)),
        "breakdowns": _breakdowns(facts),
        "representative": crash_link(representative) if representative else None,
        "representative_reason": _why_representative(representative),
        "stack": _representative_stack(representative, with_locals),
        "kind": facts.kind,
        "status": facts.status,
        "first_release": facts.first_release,
        "last_release": facts.last_release,
        "resolved_in": facts.resolved_in,
        "spread": spread if with_locals else None,
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
    """The signed thread with the crashing frame first: the line a reader came for is on top."""
    view = signed_thread_view(crash.analysis if crash else None, with_locals)
    if view is None:
        return None
    return replace(view, frames=view.frames[::-1], innermost_first=True)


def _why_representative(crash: CrashRecord | None) -> str | None:
    """The store's rule (``representative_ids``), said with this crash's own figures."""
    if crash is None or crash.analysis is None:
        return None
    thread = crashing_thread(crash.analysis).thread
    frames = thread.frames if thread is not None else ()
    known = sum(1 for frame in frames if frame.function not in ("", "???"))
    with_locals = any(frame.locals or frame.arguments for frame in frames)
    return (
        f"the most informative of the group's analyzed crashes: {known} of {len(frames)} frames "
        f"symbolized, {'with' if with_locals else 'without'} local variables "
        "(ties go to the newest)"
    )


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
    document_href: str | None = None  # the analysis as JSON, next to the page
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
        document_href=paths.crash_document_path(crash.id) if analysis is not None else None,
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
