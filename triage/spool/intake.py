"""Recording one file as a crash: checks, content hash, sidecar. No analysis happens here.

This is the function the watcher calls for every settled file and `triage ingest` for every
argument; it never moves, changes or deletes the file. Spool files are untrusted: they are
opened without following links and without blocking, must be regular files, and are read
through the descriptor that was checked. The identity of that file is kept in the context
(``_identity``) so that the analysis can check it is still the same file.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..store import Store
from ..store.queue import FileKey, NewCrash, add_crashes, find_known, find_known_many
from .coredump import metadata as coredump_metadata
from .identity import IDENTITY_KEY, identity_of
from .names import (
    PATH_BYTES_KEY,
    SIDECAR_SUFFIX,
    SNAPSHOT_SUFFIX,
    inside,
    is_candidate,
    is_record,
    path_bytes,
    safe_text,
    stored_path,
)
from .sidecar import read_sidecar, storable, text_field

CHUNK = 1 << 20
ET_CORE = 4
ELF_TYPES = {1: "a relocatable object", 2: "an executable", 3: "a shared object"}
# Compressed cores are decompressed by the analyzer (zstd, xz, lz4 frame, gzip).
COMPRESSED_MAGIC = (b"\x28\xb5\x2f\xfd", b"\xfd7zXZ\x00", b"\x04\x22\x4d\x18", b"\x1f\x8b")


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
        return NewCrash(path=stored_path(path), error=_cannot("stat", exc))
    if stat.S_ISLNK(info.st_mode):
        try:
            os.stat(path)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return _facts(path, info, error="symbolic link loop: not followed")
            if spool_root is None:
                return _facts(path, info, error=f"broken link: {exc.strerror}")
        if spool_root is not None:
            target = os.path.realpath(path)
            if not inside(target, os.path.realpath(spool_root)):
                error = f"symbolic link to {target}, outside the spool: not followed"
                return _facts(path, info, error=error)
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
    new = _facts(core, info, error=error)
    new.size, new.context = 0, {**(new.context or {}), "_record": os.path.basename(record)}
    return new


def identity_key(info: os.stat_result) -> tuple[int, int, int, int]:
    """What must not change between a file's examination and its recording."""
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def examine(path: str, info: os.stat_result, follow: bool = True) -> NewCrash:
    """The facts of one file: its content hash, whether it can be a core, its sidecar."""
    if not stat.S_ISREG(info.st_mode):
        return _facts(path, info, error="not a regular file")
    if info.st_size == 0:
        return _facts(path, info, error="empty file (0 bytes): not a core")
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except PermissionError:
        return _facts(path, info, error="not readable: permission denied")
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow:
            return _facts(path, info, error="replaced by a symbolic link: not followed")
        return _facts(path, info, error=_cannot("open", exc))
    # Unbuffered: the hash reads large chunks into one buffer, with no copy in between.
    with os.fdopen(fd, "rb", buffering=0) as stream:
        # What was opened counts, not what lstat saw a moment before (it may have been swapped).
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            return _facts(path, opened, error="not a regular file")
        extra: dict[str, Any] = {IDENTITY_KEY: identity_of(opened)}
        coredump = coredump_metadata(path, fd)
        if coredump is not None:
            extra.update(coredump)
        header = stream.read(64)
        problem = _not_a_core(header, path)
        if problem is not None:  # no need to read the rest (it may be a huge sparse file)
            return _facts(path, opened, error=problem, extra=extra)
        digest = _sha256(stream, header)
    return _facts(path, opened, sha256=digest, extra=extra)


def _sha256(stream: Any, header: bytes) -> str:
    """The content hash: HEADER (already read), then the rest of the file, read into one
    reused buffer (no allocation or copy per chunk: most of the intake's time per core)."""
    digest = hashlib.sha256(header)
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    while True:
        size = stream.readinto(buffer)
        if not size:
            break
        digest.update(view[:size])
    return digest.hexdigest()


def _not_a_core(header: bytes, path: str) -> str | None:
    if path.endswith(SNAPSHOT_SUFFIX):
        if header.lstrip().startswith(b"{"):
            return None
        return "not an analysis document (a .snapshot file is the JSON of `triage remote`)"
    if header.startswith(b"\x7fELF"):
        if len(header) < 18:
            return "truncated ELF header: not a core"
        kind = int.from_bytes(header[16:18], "little" if header[5] == 1 else "big")
        if kind != ET_CORE:
            return f"an ELF file but {ELF_TYPES.get(kind, f'of type {kind}')}, not a core"
        return None
    if header.startswith(COMPRESSED_MAGIC):
        return None
    return "not a core file (no ELF header, no known compression)"


def _facts(
    path: str,
    info: os.stat_result,
    sha256: str | None = None,
    error: str | None = None,
    extra: dict[str, Any] | None = None,
) -> NewCrash:
    context, problem = read_sidecar(path)
    if problem is not None:
        context = {"sidecar_error": problem}
    if extra:
        # The sidecar's own keys win over systemd's attributes; the identity is ours alone.
        # Attributes and names are as untrusted as a sidecar: stored the same careful way.
        found = storable({k: v for k, v in extra.items() if k != IDENTITY_KEY})
        context = {**found, **(context or {})}
        if IDENTITY_KEY in extra:
            context[IDENTITY_KEY] = extra[IDENTITY_KEY]
    raw = path_bytes(path)
    if raw is not None:
        context = {**(context or {}), PATH_BYTES_KEY: raw}
    return NewCrash(
        path=stored_path(path),
        size=info.st_size,
        mtime_ns=info.st_mtime_ns,
        sha256=sha256,
        error=safe_text(error) if error is not None else None,
        crashed_at=_crashed_at(context, info),
        host=text_field(context, "host"),
        service=text_field(context, "service"),
        release=text_field(context, "release"),
        executable=text_field(context, "executable", 4096),
        context=context,
    )


def _crashed_at(context: dict[str, Any] | None, info: os.stat_result) -> datetime:
    """The crash's own time (sidecar or systemd attributes), else the file's mtime."""
    value = (context or {}).get("time")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1e11:
        return datetime.fromtimestamp(value, timezone.utc)
    return datetime.fromtimestamp(info.st_mtime, timezone.utc)


def _cannot(what: str, exc: OSError) -> str:
    return f"cannot {what}: {exc.strerror or exc}"


def _intake(new: NewCrash, crash_id: int, created: bool) -> Intake:
    if not created:  # the same content under another name (the same file was found before)
        return Intake(new.path, "duplicate", crash_id)
    if new.error is not None:
        return Intake(new.path, "failed", crash_id, new.error)
    return Intake(new.path, "queued", crash_id)
