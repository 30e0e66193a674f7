"""Recording one file as a crash: checks, content hash, sidecar. No analysis happens here.

This is the function the watcher calls for every settled file and `triage ingest` for every
argument; it never moves, changes or deletes the file.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from datetime import datetime, timezone

from ..store import Store
from ..store.queue import NewCrash, add_crash, find_known
from .names import inside, is_candidate
from .sidecar import read_sidecar, text_field

CHUNK = 1 << 20
ET_CORE = 4
ELF_TYPES = {1: "a relocatable object", 2: "an executable", 3: "a shared object"}
# Compressed cores are decompressed by the analyzer (zstd, xz, lz4 frame, gzip).
COMPRESSED_MAGIC = (b"\x28\xb5\x2f\xfd", b"\xfd7zXZ\x00", b"\x04\x22\x4d\x18", b"\x1f\x8b")


@dataclass(frozen=True)
class Intake:
    """What became of a file: queued, failed (with why), already known, or not a candidate."""

    path: str
    outcome: str  # "queued", "failed", "known", "ignored"
    crash_id: int | None = None
    error: str | None = None


def ingest_file(
    store: Store, path: str, spool_root: str | None = None, host: str | None = None
) -> Intake:
    """Record PATH as a crash. With SPOOL_ROOT (the watcher), symlinks must stay inside it.

    HOST is the crash's host unless its sidecar names one.
    """
    path = os.path.abspath(path)
    if spool_root is not None and not is_candidate(path):
        return Intake(path, "ignored")
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return Intake(path, "ignored", error="vanished before it could be read")
    except OSError as exc:
        return _record(host, store, NewCrash(path=path, error=f"cannot stat: {exc.strerror}"))
    if stat.S_ISLNK(info.st_mode):
        target = os.path.realpath(path)
        if spool_root is not None:
            if not inside(target, os.path.realpath(spool_root)):
                error = f"symbolic link to {target}, outside the spool: not followed"
                return _record(host, store, _facts(path, info, error=error))
            return Intake(path, "ignored", error="symbolic link inside the spool: target counts")
        try:
            info = os.stat(path)
        except OSError as exc:
            return _record(host, store, _facts(path, info, error=f"broken link: {exc.strerror}"))
    with store.session() as session:
        known = find_known(session, path, info.st_size, info.st_mtime_ns)
    if known is not None:
        return Intake(path, "known", known)
    return _record(host, store, examine(path, info, follow=spool_root is None))


def examine(path: str, info: os.stat_result, follow: bool = True) -> NewCrash:
    """The facts of one file: its content hash, whether it can be a core, its sidecar."""
    if not stat.S_ISREG(info.st_mode):
        return _facts(path, info, error="not a regular file")
    if info.st_size == 0:
        return _facts(path, info, error="empty file (0 bytes): not a core")
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except PermissionError:
        return _facts(path, info, error="not readable: permission denied")
    except OSError as exc:
        return _facts(path, info, error=f"cannot open: {exc.strerror or exc}")
    with os.fdopen(fd, "rb") as stream:
        header = stream.read(64)
        digest = hashlib.sha256(header)
        for chunk in iter(lambda: stream.read(CHUNK), b""):
            digest.update(chunk)
    return _facts(path, info, sha256=digest.hexdigest(), error=_not_a_core(header))


def _not_a_core(header: bytes) -> str | None:
    if header.startswith(b"\x7fELF"):
        if len(header) < 18:
            return "truncated ELF header: not a core"
        order = "little" if header[5] == 1 else "big"
        kind = int.from_bytes(header[16:18], order)
        if kind != ET_CORE:
            return f"an ELF file but {ELF_TYPES.get(kind, f'of type {kind}')}, not a core"
        return None
    if header.startswith(COMPRESSED_MAGIC):
        return None
    return "not a core file (no ELF header, no known compression)"


def _facts(
    path: str, info: os.stat_result, sha256: str | None = None, error: str | None = None
) -> NewCrash:
    context, problem = read_sidecar(path)
    if problem is not None:
        context = {"sidecar_error": problem}
    return NewCrash(
        path=path,
        size=info.st_size,
        mtime_ns=info.st_mtime_ns,
        sha256=sha256,
        error=error,
        crashed_at=datetime.fromtimestamp(info.st_mtime, timezone.utc),
        host=text_field(context, "host"),
        service=text_field(context, "service"),
        release=text_field(context, "release"),
        executable=text_field(context, "executable", 4096),
        context=context,
    )


def _record(host: str | None, store: Store, new: NewCrash) -> Intake:
    new.host = new.host or host
    crash_id, created = add_crash(store, new)
    if not created:
        return Intake(new.path, "known", crash_id)
    if new.error is not None:
        return Intake(new.path, "failed", crash_id, new.error)
    return Intake(new.path, "queued", crash_id)
