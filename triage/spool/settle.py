"""When a file in the spool is complete enough to be read: the settling rules.

A rename into place (IN_MOVED_TO, from the same directory or from elsewhere) says "complete"
and is taken at once: a writer renames only what it finished. A writer's close
(IN_CLOSE_WRITE) says "complete" too, but the size must then hold still for a short quiet
period (another writer may reopen it). A file seen only by a scan (backlog, rescan, NFS) must
be still for ``settle`` seconds, measured from its mtime, so old backlog files are ready at
once. A file being written (created or modified, not closed yet) waits for its close, or for
a long silence from a writer that crashed half-way.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

QUIET_SECONDS = 0.25
OPEN_WRITER_FACTOR = 6  # a file still open for writing waits this many settle periods


@dataclass
class _Candidate:
    root: str
    size: int = -1
    mtime_ns: int = -1
    changed_at: float = 0.0  # wall clock of the last change seen
    closed: bool = False
    writing: bool = False
    moved: bool = False


class Settler:
    def __init__(self, settle_seconds: float) -> None:
        self.settle = settle_seconds
        self.candidates: dict[str, _Candidate] = {}

    def __len__(self) -> int:
        return len(self.candidates)

    def note(self, path: str, root: str, event: str) -> None:
        """EVENT: "closed", "moved", "created", "modified" or "scanned"."""
        candidate = self.candidates.get(path)
        if candidate is None:
            candidate = self.candidates[path] = _Candidate(root)
        if event in ("closed", "moved"):
            candidate.closed, candidate.writing = True, False
            candidate.moved = event == "moved"
        elif event in ("created", "modified"):  # events arrive in order: a close comes last
            candidate.closed, candidate.writing, candidate.moved = False, True, False

    def ready(self, now: float | None = None) -> list[tuple[str, str]]:
        """(path, root) of the files that have settled; they are forgotten here."""
        now = time.time() if now is None else now
        settled = []
        for path, candidate in list(self.candidates.items()):
            try:
                info = os.lstat(path)
            except FileNotFoundError:  # renamed away or removed by its writer
                del self.candidates[path]
                continue
            except OSError:
                settled.append((path, candidate.root))  # intake records why
                del self.candidates[path]
                continue
            if (info.st_size, info.st_mtime_ns) != (candidate.size, candidate.mtime_ns):
                first_look = candidate.size < 0
                candidate.size, candidate.mtime_ns = info.st_size, info.st_mtime_ns
                # On the first look the file's own mtime says how long it has been still.
                candidate.changed_at = min(now, info.st_mtime) if first_look else now
                if not first_look or (candidate.closed and not candidate.moved):
                    continue
            if now - candidate.changed_at >= self._wait(candidate):
                settled.append((path, candidate.root))
                del self.candidates[path]
        return settled

    def _wait(self, candidate: _Candidate) -> float:
        if candidate.moved:
            return 0.0
        if candidate.closed:
            return QUIET_SECONDS
        if candidate.writing:
            return self.settle * OPEN_WRITER_FACTOR
        return self.settle
