"""Examining one file before it is recorded: whether it can be a core, its content hash, its
sidecar and systemd's attributes. No database here: `triage ingest` hashes the next cores in a
thread while it is still opening the database.

Spool files are untrusted: they are opened without following links and without blocking, must
be regular files, and are read through the descriptor that was checked. The identity of that
file is kept in the context (``_identity``) so that the analysis can check it is still the
same file.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..analysis import load_native
from .coredump import metadata as coredump_metadata
from .identity import IDENTITY_KEY, identity_of
from .names import PATH_BYTES_KEY, SNAPSHOT_SUFFIX, path_bytes, safe_text, stored_path
from .sidecar import read_sidecar, storable, text_field

ET_CORE = 4
ELF_TYPES = {1: "a relocatable object", 2: "an executable", 3: "a shared object"}
# Compressed cores are decompressed by the analyzer (zstd, xz, lz4 frame, gzip).
COMPRESSED_MAGIC = (b"\x28\xb5\x2f\xfd", b"\xfd7zXZ\x00", b"\x04\x22\x4d\x18", b"\x1f\x8b")


@dataclass
class NewCrash:
    """What the spool knows of a file before analysis."""

    path: str
    size: int | None = None
    mtime_ns: int | None = None
    sha256: str | None = None
    error: str | None = None  # set: recorded as failed without analysis
    crashed_at: datetime | None = None
    host: str | None = None
    service: str | None = None
    release: str | None = None
    executable: str | None = None
    context: dict[str, Any] | None = field(default=None)


def identity_key(info: os.stat_result) -> tuple[int, int, int, int]:
    """What must not change between a file's examination and its recording."""
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def examine(path: str, info: os.stat_result, follow: bool = True) -> NewCrash:
    """The facts of one file: its content hash, whether it can be a core, its sidecar."""
    if not stat.S_ISREG(info.st_mode):
        return file_facts(path, info, error="not a regular file")
    if info.st_size == 0:
        return file_facts(path, info, error="empty file (0 bytes): not a core")
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except PermissionError:
        return file_facts(path, info, error="not readable: permission denied")
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow:
            return file_facts(path, info, error="replaced by a symbolic link: not followed")
        return file_facts(path, info, error=cannot("open", exc))
    with os.fdopen(fd, "rb", buffering=0) as stream:
        # What was opened counts, not what lstat saw a moment before (it may have been swapped).
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            return file_facts(path, opened, error="not a regular file")
        extra: dict[str, Any] = {IDENTITY_KEY: identity_of(opened)}
        coredump = coredump_metadata(path, fd)
        if coredump is not None:
            extra.update(coredump)
        header = stream.read(64)
        problem = _not_a_core(header, path)
        if problem is not None:  # no need to read the rest (it may be a huge sparse file)
            return file_facts(path, opened, error=problem, extra=extra)
        try:
            digest = _sha256(fd)
        except OSError as exc:
            return file_facts(path, opened, error=cannot("read", exc), extra=extra)
    return file_facts(path, opened, sha256=digest, extra=extra)


def _sha256(fd: int) -> str:
    """SHA-256 of the whole file: most of the intake's time per core.

    The extension reads and hashes the file in one call, without the GIL and in chunks that
    stay in the CPU's cache: 6.3 ms for a 7.4 MB core, where hashing 8 MiB reads in Python
    took 6.7 to 10 ms and gave the GIL back and forth on every chunk. A memory map of the
    file would have been as fast, but a file truncated while mapped kills the process that
    reads it (SIGBUS).
    """
    return str(load_native().sha256_of_file(fd))


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


def file_facts(
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


def cannot(what: str, exc: OSError) -> str:
    return f"cannot {what}: {exc.strerror or exc}"
