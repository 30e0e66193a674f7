"""Crash pages: one per crash, rendered here or, for large sites, by worker processes.

``render_crash_slice`` is what a worker process of ``parallel`` runs; the main renderer writes
crash pages with ``write_crashes`` too, so both produce the same pages.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable

from ..render.source import SourceCache
from . import queries
from .context import build_crash_page
from .frames import SourceLookup
from .records import CrashRecord, GroupRecord
from .render import SiteWriter, render_crash


def write_crashes(
    writer: SiteWriter,
    crashes: Iterable[CrashRecord],
    groups: dict[int, GroupRecord],
    no_locals: bool,
    sources: Sources,
) -> None:
    for crash in crashes:
        group = groups.get(crash.group_id) if crash.group_id is not None else None
        lookup = sources.for_crash(crash)
        page = build_crash_page(crash, group, with_locals=not no_locals, sources=lookup)
        writer.write(page.path, render_crash(page))


def render_crash_slice(
    url: str, out_dir: str | os.PathLike[str], first: int, last: int, no_locals: bool
) -> tuple[int, int, list[str]]:
    """Worker process: the pages of crashes ``first``..``last`` (ids); returns the counts."""
    from ..store.engine import make_engine

    engine = make_engine(url)
    try:
        writer = SiteWriter(out_dir)
        with queries.reading(engine) as session:
            groups = {group.id: group for group in queries.groups(session)}
            crashes = queries.crashes_with_analysis(session, first=first, last=last)
            write_crashes(writer, crashes, groups, no_locals, Sources())
        return writer.written, writer.unchanged, sorted(writer.pages)
    finally:
        engine.dispose()


class Sources:
    """Source lines for Python frames, read from this machine's files.

    Only for cores from this host (or of unknown host): another host may run another release,
    and a wrong line is worse than none. Only ``.py`` files: a crafted core must not make the
    report publish lines of arbitrary files (``/etc/shadow``) that the report's user can read.
    """

    def __init__(self) -> None:
        self._cache = SourceCache()
        self._host = socket.gethostname()

    def for_crash(self, crash: CrashRecord) -> SourceLookup | None:
        if crash.host is not None and crash.host != self._host:
            return None
        return self._line

    def _line(self, file: str, line: int) -> str | None:
        if not file.endswith(".py"):
            return None
        return self._cache.line(file, line)
