"""Typed stub of the C++ extension: plain data out, exceptions for unusable input.

The dicts returned here are converted once, in ``triage.analysis``, into the frozen dataclasses
of ``triage.model``; nothing else in the package reads them.
"""

from typing import Any

class CoreFileError(Exception):
    """The input is not usable as a core: unreadable, not ELF, not a core, truncated headers."""

class AnalysisError(Exception):
    """The core is readable but no usable answer could be computed from it."""

class ProcessError(Exception):
    """The process cannot be inspected: no such process, a zombie, permission denied."""

def analyze_core(
    core: str,
    executable: str | None = None,
    lib_search_path: list[str] | None = None,
    lib_search_root: str | None = None,
    max_frames: int = 100_000,
    locals: bool = False,
    native: bool = False,
    native_all: bool = False,
) -> dict[str, Any]:
    """Analyze a core file (plain, gzip, zstd, lz4 or xz) and return its Python stacks.

    Shape of the result (all integers are Python ints, all strings valid UTF-8):

    {
      "core": {"path": str, "pid": int, "ppid": int, "pgrp": int, "sid": int, "uid": int,
               "gid": int, "state": str (one char), "zombie": bool, "nice": int,
               "fname": str, "psargs": str,
               "signal": int (0: none), "si_code": int, "si_errno": int,
               "fault_address": int | None, "sender_pid": int | None, "sender_uid": int | None,
               "execfn": str | None, "tids": [int, ...], "compression": str | None},
      "executable": str,               # path actually used
      "executable_from_core": bool,    # True when taken from the core, not from the argument
      "python_version": [major, minor, micro] | None,
      "python_error": str | None,      # why no Python state was found (None when found)
      "threads": [
        {"tid": int, "tstate": int, "interpreter_id": int,
         "gil": int,        # 1 holds the GIL, 0 does not, -1 unknown
         "gc": int,         # 1 garbage collecting, 0 not, -1 unknown
         "frames": [        # outermost first
            {"file": str, "function": str, "qualname": str | None,
             "line": int,          # -1 when unknown
             "first_line": int, "is_entry": bool,
             "frame_address": int, "code_address": int,
             "arguments": [[name, repr]], "locals": [[name, repr]]}],  # with locals=True
         "native_frames": [  # outermost first; with native=True
            {"address": int, "function": str, "file": str | None, "line": int (0: unknown),
             "column": int, "library": str | None, "inlined": bool}],
         "python": bool,    # False: a thread without Python (native_all=True)
         "truncated": bool, "warnings": [str]}],
      "missing_libraries": [str],
      "warnings": [str],
    }
    """

def analyze_process(
    pid: int,
    block: bool = True,
    max_frames: int = 100_000,
    locals: bool = False,
    native: bool = False,
    native_all: bool = False,
) -> dict[str, Any]:
    """Analyze a running process; the same shape as ``analyze_core`` but with a ``"process"``
    entry instead of ``"core"``: pid, ppid, pgrp, sid, uid, gid, state, nice, fname, psargs,
    tids, argv, stopped_seconds. Native stacks need ``block``."""
