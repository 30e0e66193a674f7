"""Hang snapshots without a core: a live analysis saved into a spool, read back by a worker.

`triage remote PID --save SPOOL` writes the analysis document of a hung process (seconds, a few
hundred kB, where a core may take hundreds of MB) as ``SPOOL/NAME.snapshot``: written under a
dot name, synced, then renamed into place, so the watcher never sees half of it.
"""

from __future__ import annotations

import json
import os
import socket
import time

from ..document import from_json, to_json
from ..errors import InputError
from ..model import Analysis
from .names import SNAPSHOT_SUFFIX

MAX_SNAPSHOT_BYTES = 256 << 20  # a document, not a core: anything bigger is refused


def save_snapshot(analysis: Analysis, spool: str) -> str:
    """Write ANALYSIS into SPOOL atomically; returns the path it got."""
    if not os.path.isdir(spool):
        raise InputError(f"spool {spool} is not a directory")
    pid = analysis.core.pid if analysis.core is not None else 0
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    name = f"hang.{socket.gethostname()}.{pid}.{stamp}.{os.getpid()}{SNAPSHOT_SUFFIX}"
    final = os.path.join(spool, name)
    temporary = os.path.join(spool, f".{name}.tmp")
    data = json.dumps(to_json(analysis), ensure_ascii=True).encode("ascii")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
        try:
            view = memoryview(data)
            while view:  # write() may be short
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temporary, final)
    except OSError as exc:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise InputError(f"cannot save the snapshot in {spool}: {exc.strerror or exc}") from None
    return final


def read_snapshot(path: str) -> Analysis:
    """The analysis a snapshot holds; an unreadable or malformed one is an input error."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as stream:
        data = stream.read(MAX_SNAPSHOT_BYTES + 1)
    if len(data) > MAX_SNAPSHOT_BYTES:
        raise InputError(f"{path}: larger than {MAX_SNAPSHOT_BYTES >> 20} MB: not a snapshot")
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: not an analysis document: {exc}") from None
    if not isinstance(document, dict) or document.get("schema") != 1:
        raise InputError(f"{path}: not an analysis document (schema 1)")
    return from_json(document)
