"""A worker process: analyzes one core at a time for the pool, under a memory limit.

Run as ``python -m triage.spool.worker PARENT_PID``; requests and replies are JSON lines on
stdin/stdout. The first line gives the signature settings: the worker scrubs, signs and judges
each analysis itself (``triage.outcome``), so that the watcher only stores the outcomes.
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

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..outcome import Outcome
    from ..signature import SignatureConfig

FAULT_VARIABLE = "TRIAGE_WORKER_FAULT"


def main(argv: Sequence[str] = ()) -> int:
    # The pool passes its pid: the parent's death is a change of parent, and a parent of pid 1
    # is no sign of it (the watcher may be a container's init).
    _die_with_parent(int(argv[0]) if argv and argv[0].isdigit() else None)
    faults = _faults(os.environ.get(FAULT_VARIABLE, ""))
    # Replies go to the real stdout only; anything the analyzer prints goes to stderr.
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    config = None
    for line in sys.stdin:
        request = json.loads(line)
        if "config" in request:  # the pool's first line: the signature settings
            from ..signature.config import config_from_json

            config = config_from_json(request["config"])
            continue
        reply = handle(request, faults, config)
        try:
            replies.write(json.dumps(reply, ensure_ascii=True) + "\n")
            replies.flush()
        except BrokenPipeError:
            # The pool is gone (a watcher killed outright): nobody is left to answer, and the
            # parent-death signal may not have arrived yet. Leave without a traceback, and
            # without the exit's second flush of the unwritten reply.
            os._exit(0)
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


def handle(
    request: dict[str, Any],
    faults: Sequence[tuple[str, str]] = (),
    config: SignatureConfig | None = None,
) -> dict[str, Any]:
    """Analyze one core; the reply carries its outcome (``triage.outcome``), signed with
    CONFIG (the bundled settings when None)."""

    from ..errors import TriageError
    from ..outcome import FAILED, Outcome
    from .identity import open_recorded

    path = request["path"]
    limit = request.get("memory_limit")
    try:
        # The file the intake checked, not whatever has its name now: no link, same identity.
        fd = open_recorded(path, request.get("context"))
    except TriageError as exc:
        return _reply(request, Outcome(FAILED, exc.message))
    opened = f"/proc/self/fd/{fd}"
    try:
        with _address_space_limit(opened, limit):
            _inject(faults, path)
            outcome = _outcome(opened, path, request.get("lib_search_root"), config)
    except MemoryError:
        message = f"out of memory (limit {_megabytes(limit)} MB beyond the core's size)"
        outcome = Outcome(FAILED, message)
    except TriageError as exc:
        outcome = Outcome(FAILED, exc.message.replace(opened, path))
    finally:
        os.close(fd)
    return _reply(request, outcome)


def _outcome(
    opened: str, path: str, lib_search_root: str | None, config: SignatureConfig | None
) -> Outcome:
    from ..analysis import analyze_core
    from ..model import replace
    from ..signature import default_config
    from .names import SNAPSHOT_SUFFIX
    from .snapshot import read_snapshot
    from .verdict import nothing_usable, outcome_of

    if path.endswith(SNAPSHOT_SUFFIX):
        analysis = read_snapshot(opened)
    else:
        # Native frames of every thread: crashes inside C code and cores of processes without
        # Python get signatures too. Locals are kept; reports can leave them out.
        analysis = analyze_core(
            opened, lib_search_root=lib_search_root, locals=True, native_mode="all"
        )
    # The document names the core, not the descriptor it was read through.
    source = replace(analysis.source, path=path)
    analysis = replace(analysis, source=source, error=nothing_usable(analysis))
    return outcome_of(analysis, config or default_config())


def _reply(request: dict[str, Any], outcome: Outcome) -> dict[str, Any]:
    from ..outcome import outcome_to_json

    return {"id": request["id"], "outcome": outcome_to_json(outcome)}


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
