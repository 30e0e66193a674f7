"""Render the report from the store: the whole site, or only the pages new crashes change."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from . import paths, queries
from .context import (
    MAX_PROBLEMS_LISTED,
    GroupFacts,
    build_group_pages,
    build_index,
)
from .crashes import Sources, write_crashes
from .lock import locked
from .parallel import plan
from .records import CrashRecord, GroupRecord
from .render import SiteWriter, render_group, render_index


@dataclass(frozen=True)
class RenderStats:
    written: int  # pages whose content changed
    unchanged: int  # pages rendered but left as they were (same content hash)
    removed: int  # stale pages of crashes or groups that no longer exist
    seconds: float


@locked
def render_all(
    source: Any,
    out_dir: str | os.PathLike[str],
    no_locals: bool = False,
    today: date | None = None,
    workers: int | None = None,
    source_roots: Sequence[str] = (),
) -> RenderStats:
    """Render every page; remove pages of crashes and groups the store no longer has.

    ``source`` is a SQLAlchemy Engine or Session, or a ``triage.store.Store``. Crash pages are
    most of the work: for large databases they are rendered by ``workers`` processes (default:
    one per CPU) while this one renders the index and the group pages.
    """
    started = time.perf_counter()
    day = today or _today()
    writer = SiteWriter(out_dir)
    with queries.reading(source) as session:
        crash_ids = queries.crash_ids(session)
        parallel = plan(source, crash_ids, workers)
        with parallel.start(out_dir, no_locals, source_roots) as pending:
            groups = queries.groups(session)
            by_id = {group.id: group for group in groups}
            facts = queries.group_facts(session, groups, _day_end(day))
            _write_index(session, writer, groups, facts, day)
            members = queries.all_members(session)
            representatives = queries.representatives(session, list(by_id))
            for group in groups:
                members_of = members.get(group.id, [])
                representative = representatives.get(group.id)
                page_facts = facts.get(group.id)
                _write_group(writer, group, members_of, representative, page_facts, day, no_locals)
            if not parallel.slices:
                crashes = queries.crashes_with_analysis(session)
                write_crashes(writer, crashes, by_id, no_locals, Sources(source_roots))
            for done in pending:
                writer.merge(*done.result())
    removed = writer.remove_stale(paths.GROUPS_DIR) + writer.remove_stale(paths.CRASHES_DIR)
    return RenderStats(writer.written, writer.unchanged, removed, time.perf_counter() - started)


@locked
def render_changed(
    source: Any,
    out_dir: str | os.PathLike[str],
    crash_ids: Iterable[int],
    no_locals: bool = False,
    today: date | None = None,
    source_roots: Sequence[str] = (),
) -> RenderStats:
    """Re-render what new or re-analyzed crashes change: the index, their groups, their pages.

    A directory without an index has never been rendered: it gets the whole site instead.
    """
    if not (Path(out_dir) / paths.INDEX).exists():
        return render_all(source, out_dir, no_locals, today, source_roots=source_roots)
    started = time.perf_counter()
    day = today or _today()
    writer = SiteWriter(out_dir)
    wanted = sorted({int(crash_id) for crash_id in crash_ids})
    with queries.reading(source) as session:
        crashes = list(queries.crashes_with_analysis(session, wanted))
        group_ids = {crash.group_id for crash in crashes if crash.group_id is not None}
        groups = queries.groups(session)
        by_id = {group.id: group for group in groups}
        facts = queries.group_facts(session, groups, _day_end(day))
        _write_index(session, writer, groups, facts, day)
        representatives = queries.representatives(session, group_ids)
        for group_id in sorted(group_ids & by_id.keys()):
            members = queries.group_members(session, group_id)
            group = by_id[group_id]
            representative = representatives.get(group_id)
            _write_group(
                writer, group, members, representative, facts.get(group_id), day, no_locals
            )
        write_crashes(writer, crashes, by_id, no_locals, Sources(source_roots))
    return RenderStats(writer.written, writer.unchanged, 0, time.perf_counter() - started)


def _today() -> date:
    return datetime.now(timezone.utc).date()


def _day_end(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def _write_index(
    session: Any,
    writer: SiteWriter,
    groups: list[GroupRecord],
    facts: dict[int, GroupFacts],
    day: date,
) -> None:
    problems = queries.problems(session, MAX_PROBLEMS_LISTED + 1)
    counts = queries.status_counts(session)
    page = build_index(groups, facts, counts, problems, day)
    writer.write(paths.INDEX, render_index(page))


def _write_group(
    writer: SiteWriter,
    group: GroupRecord,
    members: list[CrashRecord],
    representative: CrashRecord | None,
    facts: GroupFacts | None,
    day: date,
    no_locals: bool,
) -> None:
    facts = facts or GroupFacts()
    pages = build_group_pages(group, members, representative, facts, day, with_locals=not no_locals)
    for page in pages:
        writer.write(page.path, render_group(page))
    writer.remove_extra_group_pages(group.id, len(pages))
