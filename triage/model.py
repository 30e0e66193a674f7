"""The analysis model: frozen types that every layer reads, from the C++ binding to the HTML page.

The extension builds these objects itself (``triage._native``), ``triage.document`` turns them
into the JSON document and back, and nothing else in the package holds an analysis in any other
shape.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from enum import Enum
from typing import Any

# `slots=True` only exists from Python 3.10; on 3.9 the classes simply keep a __dict__.
_SLOTS: dict[str, Any] = {"slots": True} if sys.version_info >= (3, 10) else {}

# si_code values from <asm-generic/siginfo.h>: only these two carry the sender's pid/uid.
SI_USER = 0
SI_TKILL = -6

# Signals whose positive si_code means "the CPU faulted at si_addr" (kernel-generated).
# Linux numbers (the same on x86-64 and aarch64), so that `signal` (4 ms) is imported only to
# name a signal: SIGSEGV, SIGBUS, SIGILL, SIGFPE.
FAULT_SIGNALS = frozenset({11, 7, 4, 8})

# Stop signals never make the kernel dump a core: a core carrying one was taken on demand
# (gcore attaches with ptrace and records SIGSTOP, or the stop signal of an already stopped task).
STOP_SIGNALS = frozenset({19, 20, 21, 22})  # SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU


class FrameKind(str, Enum):
    """Which stack a frame comes from. A ``str`` so that the JSON value is the member."""

    PYTHON = "python"
    NATIVE = "native"


class GilState(str, Enum):
    """What a thread is doing with the GIL; None on a thread means none of these (or unknown)."""

    HELD = "held"
    WAITING = "waiting"  # inside take_gil: blocked until the holder drops it
    DROPPING = "dropping"  # inside drop_gil: handing it over


class SourceKind(str, Enum):
    CORE = "core"
    PROCESS = "process"


def signal_name(number: int) -> str:
    """Name of a signal number on this platform (``SIGSEGV``), ``SIG<n>`` when it has none."""
    try:
        import signal

        return signal.Signals(number).name
    except ValueError:
        return f"SIG{number}"


@dataclass(frozen=True, **_SLOTS)
class Frame:
    """One stack frame, Python or native (library, address and inlined calls)."""

    kind: FrameKind
    function: str
    file: str | None
    line: int | None  # None when the line is unknown
    qualname: str | None = None
    first_line: int | None = None
    is_entry: bool = False  # Python frame entered from C (needed to merge native stacks)
    library: str | None = None
    address: int | None = None
    offset: int | None = None  # native: address relative to the library's load address
    library_path: str | None = None  # native: the library's path as the process mapped it
    inlined: bool = False
    # Source columns (Python 3.11+, DWARF for native frames): None when unknown.
    column: int | None = None
    end_line: int | None = None
    end_column: int | None = None
    # With --locals: (name, repr) pairs in the code object's order; None when not collected.
    arguments: tuple[tuple[str, str], ...] | None = None
    locals: tuple[tuple[str, str], ...] | None = None

    @property
    def is_python(self) -> bool:
        return self.kind is FrameKind.PYTHON


@dataclass(frozen=True, **_SLOTS)
class ExceptionInFlight:
    """The exception a thread is handling (an except block runs) or raising (unwinding)."""

    type: str  # the type's name, "ValueError" (2.7: "exceptions.ValueError")
    repr: str | None = None  # bounded repr of the exception object
    handled: bool = False
    traceback: tuple[Frame, ...] = ()  # outermost first


@dataclass(frozen=True, **_SLOTS)
class Thread:
    """One OS thread with its stack, outermost frame first."""

    tid: int
    frames: tuple[Frame, ...] = ()
    gil: GilState | None = None
    gc: bool | None = None  # True: this thread is running the garbage collector
    crashed: bool = False  # it received the fatal signal
    python: bool = True  # has a Python thread state (False: a native-only thread)
    interpreter_id: int | None = None
    truncated: bool = False
    warnings: tuple[str, ...] = ()
    merge_failed: bool = False  # native frames asked for but not matched to the Python ones
    name: str | None = None  # the thread's name, when known (live: the OS name)
    python_name: str | None = None  # threading's name of the thread (Thread.name), from memory
    exception: ExceptionInFlight | None = None
    # The native stack as unwound, before ``triage.analysis`` merges it into ``frames``.
    native_frames: tuple[Frame, ...] = ()


@dataclass(frozen=True, **_SLOTS)
class CoreInfo:
    """The process: from a core's notes (NT_PRPSINFO, NT_SIGINFO) or, live, from /proc."""

    path: str
    pid: int
    ppid: int = 0
    pgrp: int = 0
    sid: int = 0
    uid: int = 0
    gid: int = 0
    state: str = "R"
    zombie: bool = False
    nice: int = 0
    fname: str = ""
    psargs: str = ""
    signal: int = 0  # 0: no signal recorded
    si_code: int = 0
    si_errno: int = 0
    fault_address: int | None = None
    sender_pid: int | None = None
    sender_uid: int | None = None
    execfn: str | None = None
    tids: tuple[int, ...] = ()
    compression: str | None = None
    full_argv: tuple[str, ...] | None = None  # live processes: the exact command line

    @property
    def signal_name(self) -> str | None:
        return signal_name(self.signal) if self.signal else None

    @property
    def is_fault(self) -> bool:
        """The CPU faulted (si_code > 0), so the fault address is meaningful, even when 0."""
        return self.signal in FAULT_SIGNALS and self.si_code > 0 and self.fault_address is not None

    @property
    def sent_by(self) -> int | None:
        """Pid of the process that sent the signal, when si_code says a process sent it."""
        if self.si_code in (SI_USER, SI_TKILL) and self.sender_pid:
            return self.sender_pid
        return None

    @property
    def is_crash(self) -> bool:
        """The core was written because a signal killed the process (not gcore/on demand)."""
        return self.signal != 0 and self.signal not in STOP_SIGNALS

    @property
    def crashed_tid(self) -> int | None:
        # The kernel writes the NT_PRSTATUS of the thread that took the signal first.
        return self.tids[0] if self.is_crash and self.tids else None

    @property
    def argv(self) -> tuple[str, ...]:
        if self.full_argv is not None:
            return self.full_argv
        # psargs is argv joined by spaces and cut at 80 bytes: splitting is the best we have.
        return tuple(self.psargs.split())


@dataclass(frozen=True, **_SLOTS)
class Source:
    """What was analyzed: a core file or a live process, and the executable used."""

    kind: SourceKind
    path: str
    executable: str | None = None
    executable_from_core: bool = False


@dataclass(frozen=True, **_SLOTS)
class Analysis:
    """The whole result of analyzing one core or process."""

    source: Source
    core: CoreInfo | None = None
    # (major, minor, micro), or (major, minor) when the micro version could not be read.
    python_version: tuple[int, ...] | None = None
    python_error: str | None = None  # why no Python state was found
    threads: tuple[Thread, ...] = ()
    missing_libraries: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    stopped_seconds: float | None = None  # live, blocking: how long the process was stopped
    error: str | None = None  # why the analysis is unusable (set by its consumer); None: usable

    @property
    def python_version_string(self) -> str | None:
        if self.python_version is None:
            return None
        return ".".join(str(part) for part in self.python_version)

    @property
    def crashed_thread(self) -> Thread | None:
        return next((thread for thread in self.threads if thread.crashed), None)

    @property
    def is_snapshot(self) -> bool:
        """Taken on demand (gcore, a live analysis), not written because the process died."""
        if self.source.kind is SourceKind.PROCESS:
            return True
        return self.core is not None and not self.core.is_crash
