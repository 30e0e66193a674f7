"""A worker process: analyzes one core at a time for the pool, under a memory limit.

Run as ``python -m triage.spool.worker PARENT_PID``; requests and replies are JSON lines on
stdin/stdout.
It never touches the database, so a core that crashes or exhausts it harms nothing else: the
pool sees the death, fails that core and starts a new worker.

``$TRIAGE_WORKER_FAULT`` (``hang:TEXT``, ``crash:TEXT``, ``oom:TEXT``, comma-separated) makes
the worker misbehave on cores whose path contains TEXT: it is how the tests prove that one bad
core fails alone. It is read once at start and does nothing when unset.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Sequence
from typing import Any

FAULT_VARIABLE = "TRIAGE_WORKER_FAULT"


def main(argv: Sequence[str] = ()) -> int:
    # The pool passes its pid: the parent's death is a change of parent, and a parent of pid 1
    # is no sign of it (the watcher may be a container's init).
    _die_with_parent(int(argv[0]) if argv and argv[0].isdigit() else None)
    faults = _faults(os.environ.get(FAULT_VARIABLE, ""))
    # Replies go to the real stdout only; anything the analyzer prints goes to stderr.
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    for line in sys.stdin:
        request = json.loads(line)
        reply = handle(request, faults)
        replies.write(json.dumps(reply, ensure_ascii=True) + "\n")
        replies.flush()
    return 0


def _die_with_parent(parent: int | None) -> None:
    """A watcher killed with SIGKILL must not leave a worker running a long analysis."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except (OSError, AttributeError):
        pass
    if parent is not None and os.getppid() != parent:  # it was gone before the prctl
        sys.exit(0)


def handle(request: dict[str, Any], faults: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    """Analyze one core; the reply says done/failed and carries the analysis document."""

    from ..analysis import analyze_core
    from ..document import to_json
    from ..errors import TriageError
    from ..model import replace
    from .identity import open_recorded
    from .names import SNAPSHOT_SUFFIX
    from .snapshot import read_snapshot
    from .verdict import nothing_usable

    reply: dict[str, Any] = {"id": request["id"], "analysis": None, "error": None}
    limit = request.get("memory_limit")
    try:
        # The file the intake checked, not whatever has its name now: no link, same identity.
        fd = open_recorded(request["path"], request.get("context"))
    except TriageError as exc:
        reply["error"] = exc.message
        return reply
    opened = f"/proc/self/fd/{fd}"
    try:
        with _address_space_limit(opened, limit):
            _inject(faults, request["path"])
            if request["path"].endswith(SNAPSHOT_SUFFIX):
                analysis = read_snapshot(opened)
            else:
                # Native frames of every thread: crashes inside C code and cores of processes
                # without Python get signatures too. Locals are kept; reports can leave them out.
                analysis = analyze_core(
                    opened,
                    lib_search_root=request.get("lib_search_root"),
                    locals=True,
                    native_mode="all",
                )
            # The document names the core, not the descriptor it was read through.
            source = replace(analysis.source, path=request["path"])
            analysis = replace(analysis, source=source)
            document = to_json(replace(analysis, error=nothing_usable(analysis)))
    except MemoryError:
        reply["error"] = f"out of memory (limit {_megabytes(limit)} MB beyond the core's size)"
        return reply
    except TriageError as exc:
        reply["error"] = exc.message.replace(opened, request["path"])
        return reply
    finally:
        os.close(fd)
    reply["analysis"] = document
    reply["error"] = document.get("error")
    return reply


class _address_space_limit:
    """RLIMIT_AS for one analysis: what the process uses now, the core (mapped), and LIMIT."""

    def __init__(self, path: str, limit: int | None) -> None:
        self.path = path
        self.limit = limit
        self.saved: tuple[int, int] | None = None

    def __enter__(self) -> None:
        if not self.limit:
            return
        try:
            size = os.path.getsize(self.path)
        except OSError:
            size = 0
        self.saved = resource.getrlimit(resource.RLIMIT_AS)
        soft = _address_space() + size + self.limit
        hard = self.saved[1]
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))

    def __exit__(self, *exc: object) -> None:
        if self.saved is not None:
            resource.setrlimit(resource.RLIMIT_AS, self.saved)


def _address_space() -> int:
    with open("/proc/self/statm") as stream:
        pages = int(stream.read().split()[0])
    return pages * resource.getpagesize()


def _megabytes(limit: int | None) -> str:
    return str(limit // (1 << 20)) if limit else "?"


def _faults(spec: str) -> list[tuple[str, str]]:
    faults = []
    for item in spec.split(","):
        kind, _, text = item.partition(":")
        if kind in ("hang", "crash", "oom") and text:
            faults.append((kind, text))
    return faults


def _inject(faults: Sequence[tuple[str, str]], path: str) -> None:
    for kind, text in faults:
        if text not in path:
            continue
        if kind == "hang":
            time.sleep(3600)
        elif kind == "crash":
            os.abort()
        elif kind == "oom":  # grows until the real RLIMIT_AS of this job says no
            hog = [bytearray(16 << 20) for _ in range(1 << 14)]
            del hog


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
