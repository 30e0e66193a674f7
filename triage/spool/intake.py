"""Recording one file as a crash: checks, content hash, sidecar. No analysis happens here.

This is the function the watcher calls for every settled file and `triage ingest` for every
argument; it never moves, changes or deletes the file. What a file is (its checks, hash and
sidecar) is ``triage.spool.examine``'s; this module decides what to record and records it.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

from ..store import Store
from ..store.queue import FileKey, add_crashes, find_known, find_known_many
from .examine import NewCrash, cannot, examine, file_facts
from .names import SIDECAR_SUFFIX, inside, is_candidate, is_record, stored_path
from .sidecar import read_sidecar


@dataclass(frozen=True)
class Intake:
    """What became of a file: queued, failed (with why), already known, or not a candidate."""

    path: str
    outcome: str  # "queued", "failed", "known" (this file), "duplicate" (its content), "ignored"
    crash_id: int | None = None
    error: str | None = None


# examine() or a stand-in with its signature (e.g. one that hashed the file ahead of time).
Examine = Callable[[str, os.stat_result, bool], "NewCrash"]


def ingest_file(
    store: Store,
    path: str,
    spool_root: str | None = None,
    host: str | None = None,
    examine_file: Examine | None = None,
) -> Intake:
    """Record PATH as a crash. With SPOOL_ROOT (the watcher), symlinks must stay inside it.

    HOST is the crash's host unless its sidecar names one. EXAMINE_FILE replaces ``examine``.
    """
    return ingest_files(store, [path], spool_root, host, examine_file)[0]


def ingest_files(
    store: Store,
    paths: list[str],
    spool_root: str | None = None,
    host: str | None = None,
    examine_file: Examine | None = None,
) -> list[Intake]:
    """Record PATHS as ``ingest_file`` records each, in two transactions for all of them
    (`triage ingest` knows its files up front): one finds those already known, one records
    the others. Returns one Intake per path, in order."""
    looked = [_look(store, os.path.abspath(path), spool_root) for path in paths]
    regular = [(i, item) for i, item in enumerate(looked) if isinstance(item, _Regular)]
    again: dict[int, int] = {}  # index -> index of the same file earlier in PATHS
    if regular:
        keys: list[FileKey] = [_file_key(item) for _, item in regular]
        with store.session() as session:
            known = find_known_many(session, keys)
        earlier: dict[FileKey, int] = {}
        for (i, item), key in zip(regular, keys):
            if key in known:
                looked[i] = Intake(item.path, "known", known[key])
            elif key in earlier:  # known once the first is recorded
                again[i] = earlier[key]
            else:
                earlier[key] = i
                looked[i] = (examine_file or examine)(item.path, item.info, spool_root is None)
    news = [(i, item) for i, item in enumerate(looked) if isinstance(item, NewCrash)]
    for _, new in news:
        new.host = new.host or host  # a sidecar's host wins
    added = add_crashes(store, [new for _, new in news]) if news else []
    for (i, new), (crash_id, created) in zip(news, added):
        looked[i] = _intake(new, crash_id, created)
    for i, first in again.items():
        looked[i] = _again(paths[i], looked[first])
    return [item for item in looked if isinstance(item, Intake)]


def _file_key(item: _Regular) -> FileKey:
    return (stored_path(item.path), item.info.st_size, item.info.st_mtime_ns)


def _again(path: str, first: Intake | NewCrash | _Regular) -> Intake:
    """A file given twice: known when its first mention was recorded, else as that was."""
    assert isinstance(first, Intake)
    if first.outcome in ("queued", "failed"):
        return Intake(os.path.abspath(path), "known", first.crash_id)
    return Intake(os.path.abspath(path), first.outcome, first.crash_id, first.error)


@dataclass(frozen=True)
class _Regular:
    """A file to examine (hash) unless it is known already."""

    path: str
    info: os.stat_result


def _look(store: Store, path: str, spool_root: str | None) -> Intake | NewCrash | _Regular:
    """What PATH is, from its name and lstat: to ignore, to record as failed, or to examine.
    Only a collector's lone record touches the database here (rare)."""
    if spool_root is not None and is_record(path, spool_root):
        return _dropped(store, path)
    if spool_root is not None and not is_candidate(path, spool_root):
        return Intake(path, "ignored")
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return Intake(path, "ignored", error="vanished before it could be read")
    except OSError as exc:
        return NewCrash(path=stored_path(path), error=cannot("stat", exc))
    if stat.S_ISLNK(info.st_mode):
        try:
            os.stat(path)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return file_facts(path, info, error="symbolic link loop: not followed")
            if spool_root is None:
                return file_facts(path, info, error=f"broken link: {exc.strerror}")
        if spool_root is not None:
            target = os.path.realpath(path)
            if not inside(target, os.path.realpath(spool_root)):
                error = f"symbolic link to {target}, outside the spool: not followed"
                return file_facts(path, info, error=error)
            return Intake(path, "ignored", error="symbolic link inside the spool: target counts")
        info = os.stat(path)
    return _Regular(path, info)


def _dropped(store: Store, record: str) -> Intake | NewCrash:
    """A collector's sidecar without its core, saying why the core was not kept (e.g. the rate
    limit): a failed crash, so that crashes over a limit are counted too. Any other lone
    sidecar is ignored (its core has not arrived yet, or never will)."""
    core = record[: -len(SIDECAR_SUFFIX)]
    if os.path.lexists(core):
        return Intake(record, "ignored")
    context, _ = read_sidecar(core)
    outcome = (context or {}).get("core")
    if not isinstance(outcome, str) or not outcome.startswith("dropped: "):
        return Intake(record, "ignored")
    try:
        info = os.lstat(record)
    except OSError:
        return Intake(record, "ignored")
    # Size 0 (there is no core) and the record's mtime: a rescan finds this row again.
    with store.session() as session:
        known = find_known(session, stored_path(core), 0, info.st_mtime_ns)
    if known is not None:
        return Intake(record, "known", known)
    error = f"core not kept by the collector: {outcome[len('dropped: ') :]}"
    new = file_facts(core, info, error=error)
    new.size, new.context = 0, {**(new.context or {}), "_record": os.path.basename(record)}
    return new


def _intake(new: NewCrash, crash_id: int, created: bool) -> Intake:
    if not created:  # the same content under another name (the same file was found before)
        return Intake(new.path, "duplicate", crash_id)
    if new.error is not None:
        return Intake(new.path, "failed", crash_id, new.error)
    return Intake(new.path, "queued", crash_id)
