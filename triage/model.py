"""The analysis model: frozen types that every layer reads, from the C++ binding to the HTML page.

The extension builds these objects itself (``triage._native``), ``triage.document`` turns them
into the JSON document and back, and nothing else in the package holds an analysis in any other
shape.
"""

from __future__ import annotations

from enum import Enum

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at run time
if TYPE_CHECKING:
    from typing import Any, ClassVar, TypeVar

    R = TypeVar("R", bound="Record")

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


class FrozenInstanceError(AttributeError):
    """Raised on an attempt to change a field of a model object."""


_set = object.__setattr__


class Record:
    """Base of the model's classes: immutable, compared and hashed by their fields, in order.

    Written out rather than made with ``dataclasses``: importing that module (it imports
    ``inspect``, ``ast`` and ``dis``) and generating the seven classes at import took over a
    third of the start-up of ``triage core``. Each class lists its fields in ``__slots__``, in
    the order of its ``__init__``'s parameters.
    """

    __slots__: ClassVar[tuple[str, ...]] = ()

    def _values(self) -> tuple[Any, ...]:
        return tuple([getattr(self, name) for name in self.__slots__])

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{self.__class__.__qualname__}({fields})"

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        # pickle and copy: rebuilt through __init__, which takes every field by position.
        return (self.__class__, self._values())


def replace(record: R, **changes: Any) -> R:
    """A copy of RECORD with the fields of CHANGES changed (as ``dataclasses.replace``)."""
    values = {name: getattr(record, name) for name in record.__slots__}
    values.update(changes)  # an unknown name: __init__'s TypeError
    return record.__class__(**values)


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


# Linux's signal names by number (x86-64 and aarch64 share them): `signal` costs a few ms
# to import, as much as a whole analysis. A test checks them against this platform's.
_SIGNAL_NAMES = (
    "SIGHUP SIGINT SIGQUIT SIGILL SIGTRAP SIGABRT SIGBUS SIGFPE SIGKILL SIGUSR1 SIGSEGV SIGUSR2 "
    "SIGPIPE SIGALRM SIGTERM SIGSTKFLT SIGCHLD SIGCONT SIGSTOP SIGTSTP SIGTTIN SIGTTOU SIGURG "
    "SIGXCPU SIGXFSZ SIGVTALRM SIGPROF SIGWINCH SIGIO SIGPWR SIGSYS"
).split()


def signal_name(number: int) -> str:
    """Name of a signal number (``SIGSEGV``), ``SIG<n>`` when it has none (real-time ones)."""
    if 1 <= number <= len(_SIGNAL_NAMES):
        return _SIGNAL_NAMES[number - 1]
    return f"SIG{number}"


class Frame(Record):
    """One stack frame, Python or native (library, address and inlined calls)."""

    __slots__ = (
        "kind",
        "function",
        "file",
        "line",
        "qualname",
        "first_line",
        "is_entry",
        "library",
        "address",
        "offset",
        "library_path",
        "inlined",
        "column",
        "end_line",
        "end_column",
        "arguments",
        "locals",
    )
    kind: FrameKind
    function: str
    file: str | None
    line: int | None  # None when the line is unknown
    qualname: str | None
    first_line: int | None
    is_entry: bool  # Python frame entered from C (needed to merge native stacks)
    library: str | None
    address: int | None
    offset: int | None  # native: address relative to the library's load address
    library_path: str | None  # native: the library's path as the process mapped it
    inlined: bool
    # Source columns (Python 3.11+, DWARF for native frames): None when unknown.
    column: int | None
    end_line: int | None
    end_column: int | None
    # With --locals: (name, repr) pairs in the code object's order; None when not collected.
    arguments: tuple[tuple[str, str], ...] | None
    locals: tuple[tuple[str, str], ...] | None

    def __init__(
        self,
        kind: FrameKind,
        function: str,
        file: str | None,
        line: int | None,
        qualname: str | None = None,
        first_line: int | None = None,
        is_entry: bool = False,
        library: str | None = None,
        address: int | None = None,
        offset: int | None = None,
        library_path: str | None = None,
        inlined: bool = False,
        column: int | None = None,
        end_line: int | None = None,
        end_column: int | None = None,
        arguments: tuple[tuple[str, str], ...] | None = None,
        locals: tuple[tuple[str, str], ...] | None = None,
    ) -> None:
        _set(self, "kind", kind)
        _set(self, "function", function)
        _set(self, "file", file)
        _set(self, "line", line)
        _set(self, "qualname", qualname)
        _set(self, "first_line", first_line)
        _set(self, "is_entry", is_entry)
        _set(self, "library", library)
        _set(self, "address", address)
        _set(self, "offset", offset)
        _set(self, "library_path", library_path)
        _set(self, "inlined", inlined)
        _set(self, "column", column)
        _set(self, "end_line", end_line)
        _set(self, "end_column", end_column)
        _set(self, "arguments", arguments)
        _set(self, "locals", locals)

    @property
    def is_python(self) -> bool:
        return self.kind is FrameKind.PYTHON


class ExceptionInFlight(Record):
    """The exception a thread is handling (an except block runs) or raising (unwinding)."""

    __slots__ = ("type", "repr", "handled", "traceback")
    type: str  # the type's name, "ValueError" (2.7: "exceptions.ValueError")
    repr: str | None  # bounded repr of the exception object
    handled: bool
    traceback: tuple[Frame, ...]  # outermost first

    def __init__(
        self,
        type: str,
        repr: str | None = None,
        handled: bool = False,
        traceback: tuple[Frame, ...] = (),
    ) -> None:
        _set(self, "type", type)
        _set(self, "repr", repr)
        _set(self, "handled", handled)
        _set(self, "traceback", traceback)


class Thread(Record):
    """One OS thread with its stack, outermost frame first."""

    __slots__ = (
        "tid",
        "frames",
        "gil",
        "gc",
        "crashed",
        "python",
        "interpreter_id",
        "truncated",
        "warnings",
        "merge_failed",
        "name",
        "python_name",
        "exception",
        "native_frames",
    )
    tid: int
    frames: tuple[Frame, ...]
    gil: GilState | None
    gc: bool | None  # True: this thread is running the garbage collector
    crashed: bool  # it received the fatal signal
    python: bool  # has a Python thread state (False: a native-only thread)
    interpreter_id: int | None
    truncated: bool
    warnings: tuple[str, ...]
    merge_failed: bool  # native frames asked for but not matched to the Python ones
    name: str | None  # the thread's name, when known (live: the OS name)
    python_name: str | None  # threading's name of the thread (Thread.name), from memory
    exception: ExceptionInFlight | None
    # The native stack as unwound, before ``triage.analysis`` merges it into ``frames``.
    native_frames: tuple[Frame, ...]

    def __init__(
        self,
        tid: int,
        frames: tuple[Frame, ...] = (),
        gil: GilState | None = None,
        gc: bool | None = None,
        crashed: bool = False,
        python: bool = True,
        interpreter_id: int | None = None,
        truncated: bool = False,
        warnings: tuple[str, ...] = (),
        merge_failed: bool = False,
        name: str | None = None,
        python_name: str | None = None,
        exception: ExceptionInFlight | None = None,
        native_frames: tuple[Frame, ...] = (),
    ) -> None:
        _set(self, "tid", tid)
        _set(self, "frames", frames)
        _set(self, "gil", gil)
        _set(self, "gc", gc)
        _set(self, "crashed", crashed)
        _set(self, "python", python)
        _set(self, "interpreter_id", interpreter_id)
        _set(self, "truncated", truncated)
        _set(self, "warnings", warnings)
        _set(self, "merge_failed", merge_failed)
        _set(self, "name", name)
        _set(self, "python_name", python_name)
        _set(self, "exception", exception)
        _set(self, "native_frames", native_frames)


class CoreInfo(Record):
    """The process: from a core's notes (NT_PRPSINFO, NT_SIGINFO) or, live, from /proc."""

    __slots__ = (
        "path",
        "pid",
        "ppid",
        "pgrp",
        "sid",
        "uid",
        "gid",
        "state",
        "zombie",
        "nice",
        "fname",
        "psargs",
        "signal",
        "si_code",
        "si_errno",
        "fault_address",
        "sender_pid",
        "sender_uid",
        "execfn",
        "tids",
        "compression",
        "full_argv",
    )
    path: str
    pid: int
    ppid: int
    pgrp: int
    sid: int
    uid: int
    gid: int
    state: str
    zombie: bool
    nice: int
    fname: str
    psargs: str
    signal: int  # 0: no signal recorded
    si_code: int
    si_errno: int
    fault_address: int | None
    sender_pid: int | None
    sender_uid: int | None
    execfn: str | None
    tids: tuple[int, ...]
    compression: str | None
    full_argv: tuple[str, ...] | None  # live processes: the exact command line

    def __init__(
        self,
        path: str,
        pid: int,
        ppid: int = 0,
        pgrp: int = 0,
        sid: int = 0,
        uid: int = 0,
        gid: int = 0,
        state: str = "R",
        zombie: bool = False,
        nice: int = 0,
        fname: str = "",
        psargs: str = "",
        signal: int = 0,
        si_code: int = 0,
        si_errno: int = 0,
        fault_address: int | None = None,
        sender_pid: int | None = None,
        sender_uid: int | None = None,
        execfn: str | None = None,
        tids: tuple[int, ...] = (),
        compression: str | None = None,
        full_argv: tuple[str, ...] | None = None,
    ) -> None:
        _set(self, "path", path)
        _set(self, "pid", pid)
        _set(self, "ppid", ppid)
        _set(self, "pgrp", pgrp)
        _set(self, "sid", sid)
        _set(self, "uid", uid)
        _set(self, "gid", gid)
        _set(self, "state", state)
        _set(self, "zombie", zombie)
        _set(self, "nice", nice)
        _set(self, "fname", fname)
        _set(self, "psargs", psargs)
        _set(self, "signal", signal)
        _set(self, "si_code", si_code)
        _set(self, "si_errno", si_errno)
        _set(self, "fault_address", fault_address)
        _set(self, "sender_pid", sender_pid)
        _set(self, "sender_uid", sender_uid)
        _set(self, "execfn", execfn)
        _set(self, "tids", tids)
        _set(self, "compression", compression)
        _set(self, "full_argv", full_argv)

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


class Source(Record):
    """What was analyzed: a core file or a live process, and the executable used."""

    __slots__ = ("kind", "path", "executable", "executable_from_core")
    kind: SourceKind
    path: str
    executable: str | None
    executable_from_core: bool

    def __init__(
        self,
        kind: SourceKind,
        path: str,
        executable: str | None = None,
        executable_from_core: bool = False,
    ) -> None:
        _set(self, "kind", kind)
        _set(self, "path", path)
        _set(self, "executable", executable)
        _set(self, "executable_from_core", executable_from_core)


class Analysis(Record):
    """The whole result of analyzing one core or process."""

    __slots__ = (
        "source",
        "core",
        "python_version",
        "python_error",
        "threads",
        "missing_libraries",
        "warnings",
        "stopped_seconds",
        "error",
    )
    source: Source
    core: CoreInfo | None
    # (major, minor, micro), or (major, minor) when the micro version could not be read.
    python_version: tuple[int, ...] | None
    python_error: str | None  # why no Python state was found
    threads: tuple[Thread, ...]
    missing_libraries: tuple[str, ...]
    warnings: tuple[str, ...]
    stopped_seconds: float | None  # live, blocking: how long the process was stopped
    error: str | None  # why the analysis is unusable (set by its consumer); None: usable

    def __init__(
        self,
        source: Source,
        core: CoreInfo | None = None,
        python_version: tuple[int, ...] | None = None,
        python_error: str | None = None,
        threads: tuple[Thread, ...] = (),
        missing_libraries: tuple[str, ...] = (),
        warnings: tuple[str, ...] = (),
        stopped_seconds: float | None = None,
        error: str | None = None,
    ) -> None:
        _set(self, "source", source)
        _set(self, "core", core)
        _set(self, "python_version", python_version)
        _set(self, "python_error", python_error)
        _set(self, "threads", threads)
        _set(self, "missing_libraries", missing_libraries)
        _set(self, "warnings", warnings)
        _set(self, "stopped_seconds", stopped_seconds)
        _set(self, "error", error)

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
