"""Crash pages: one per crash, rendered here or, for large sites, by worker processes.

``render_crash_slice`` is what a worker process of ``parallel`` runs; the main renderer writes
crash pages with ``write_crashes`` too, so both produce the same pages.
"""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Iterable, Sequence

from ..render.source import SourceCache
from ..scrub import ScrubRules, scrub_text
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
    url: str,
    out_dir: str | os.PathLike[str],
    first: int,
    last: int,
    no_locals: bool,
    source_roots: Sequence[str] = (),
) -> tuple[int, int, list[str]]:
    """Worker process: the pages of crashes ``first``..``last`` (ids); returns the counts."""
    from ..store.engine import make_engine

    engine = make_engine(url)
    try:
        writer = SiteWriter(out_dir)
        with queries.reading(engine) as session:
            groups = {group.id: group for group in queries.groups(session)}
            crashes = queries.crashes_with_analysis(session, first=first, last=last)
            write_crashes(writer, crashes, groups, no_locals, Sources(source_roots))
        return writer.written, writer.unchanged, sorted(writer.pages)
    finally:
        engine.dispose()


class Sources:
    """Source lines for Python frames, read from this machine's files, when it is safe to.

    A core names any path it likes. Lines are shown only from ``.py`` files under the
    configured source roots (the application's code, not /etc), that the crashed process itself
    could read (its uid and gid against the file's mode), and only for cores of this host (or
    of unknown host): another host may run another release, and a wrong line is worse than
    none. Without source roots, no source line is shown.
    """

    def __init__(self, roots: Sequence[str] = ()) -> None:
        self._cache = SourceCache()
        self._host = socket.gethostname()
        self._roots = tuple(os.path.realpath(root).rstrip("/") + "/" for root in roots)

    def for_crash(self, crash: CrashRecord) -> SourceLookup | None:
        if not self._roots or (crash.host is not None and crash.host != self._host):
            return None
        core = crash.analysis.core if crash.analysis is not None else None
        if core is None:
            return None
        uid, gid = core.uid, core.gid

        def line(file: str, number: int) -> str | None:
            if not self._allowed(file, uid, gid):
                return None
            found = self._cache.line(file, number)
            return scrub_text(found, self._rules) if found else found

        return line

    _rules = ScrubRules()

    def _allowed(self, file: str, uid: int, gid: int) -> bool:
        if not file.endswith(".py"):
            return False
        real = os.path.realpath(file)
        if not real.startswith(self._roots):
            return False
        try:
            info = os.stat(real)
        except OSError:
            return False
        return readable_by(info, uid, gid)


def readable_by(info: os.stat_result, uid: int, gid: int) -> bool:
    """Whether a process of UID/GID could read the file (its mode; root reads everything)."""
    if uid == 0:
        return True
    if info.st_uid == uid:
        return bool(info.st_mode & stat.S_IRUSR)
    if info.st_gid == gid:
        return bool(info.st_mode & stat.S_IRGRP)
    return bool(info.st_mode & stat.S_IROTH)
