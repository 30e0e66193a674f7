"""What a stack means, in one place for signatures, reports, text and JSON.

Which thread a crash (or a hang) is about, where the code of each frame comes from, what the
interpreter's own native functions are, and how thread states are named. The names of the GIL
and collector functions are the analyzer's own lists, exported by the extension.
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Iterable, Sequence
from enum import Enum

from .model import Analysis, Frame, FrameKind, GilState, Record, Thread

# Thread states as PyStack prints them (and as the report and the README name them).
GIL_LABELS = {
    GilState.HELD: "Has the GIL",
    GilState.WAITING: "Waiting for the GIL",
    GilState.DROPPING: "Dropping the GIL",
}
GC_LABEL = "Garbage collecting"
TERMINATED_LABEL = "Thread terminated"  # exited but not joined: its tid reads 0


def status_labels(thread: Thread) -> list[str]:
    """A thread's states, in PyStack's order."""
    labels = [TERMINATED_LABEL] if thread.tid == 0 else []
    if thread.gil is not None:
        labels.append(GIL_LABELS[thread.gil])
    if thread.gc:
        labels.append(GC_LABEL)
    return labels


# --- Where the code of a frame comes from -----------------------------------------------------


class Origin(str, Enum):
    APPLICATION = "application"  # the service's own code
    THIRD_PARTY = "third-party"  # installed packages (site-packages), their extension modules
    STDLIB = "stdlib"  # Python's standard library
    INTERPRETER = "interpreter"  # CPython itself: libpython, the executable, frozen bootstrap
    NATIVE_LIBRARY = "native-library"  # every other shared library (libc, OpenSSL, ...)


# Patterns are kept as text and matched with re.match, which compiles each on first use and
# keeps it: `triage core` prints a stack without ever needing them.
# Everything up to these markers is an install location, not part of a module name.
PACKAGE_ROOTS = r".*/(?:site-packages|dist-packages)/"
# The standard library: /usr/lib/python3.12/, /opt/pyenv/versions/3.9.18/lib/python3.9t/...
STDLIB_ROOT = r".*/lib(?:64)?/python\d(?:\.\d+)?[a-z]*/(?:lib-dynload/)?"
FROZEN = r"^<frozen (?P<module>[^>]+)>$"
# Native objects that are the interpreter: libpython3.12.so.1.0, python3.12, python3.12d.
_INTERPRETER_LIBRARY = r"^(?:lib)?python\d*(?:\.\d+)*[dmtu]*(?:\.so[.\d]*)?$"
# Interpreter functions when no library name was recorded (a static python build).
_INTERPRETER_FUNCTION = r"^(?:_?Py[A-Z_]|_Py|slot_tp_|method_vectorcall|cfunction_)"


def normalized_path(file: str) -> str:
    return posixpath.normpath(file.replace("\\", "/"))


def under(path: str, roots: Iterable[str]) -> str | None:
    """The root of ROOTS that PATH lies under, if any."""
    for root in roots:
        prefix = root.rstrip("/") + "/"
        if path.startswith(prefix):
            return prefix
    return None


def frame_origin(frame: Frame, app_roots: Sequence[str] = ()) -> Origin:
    """Who wrote the code of a frame (``app_roots`` wins: an application installed in a venv)."""
    if frame.kind is FrameKind.PYTHON:
        return python_origin(frame.file, tuple(app_roots))
    return native_origin(frame.library or "", frame.library_path or "", frame.function)


# Cached: a report classifies the same few thousand files and libraries hundreds of times.
@functools.lru_cache(maxsize=1 << 16)
def python_origin(file: str | None, app_roots: tuple[str, ...] = ()) -> Origin:
    if not file or file.startswith("<"):
        return Origin.INTERPRETER if file and re.match(FROZEN, file) else Origin.APPLICATION
    path = normalized_path(file)
    if under(path, app_roots):
        return Origin.APPLICATION
    if re.match(PACKAGE_ROOTS, path):
        return Origin.THIRD_PARTY
    if re.match(STDLIB_ROOT, path):
        return Origin.STDLIB
    return Origin.APPLICATION


@functools.lru_cache(maxsize=1 << 16)
def native_origin(library: str, library_path: str, function: str) -> Origin:
    name = posixpath.basename(library or library_path)
    if name:
        if re.match(_INTERPRETER_LIBRARY, name) or "/lib-dynload/" in library_path:
            return Origin.INTERPRETER  # the stdlib's extension modules are CPython's C code
        if re.match(PACKAGE_ROOTS, library_path):
            return Origin.THIRD_PARTY
        return Origin.NATIVE_LIBRARY
    return (
        Origin.INTERPRETER if re.match(_INTERPRETER_FUNCTION, function) else Origin.NATIVE_LIBRARY
    )


# --- The interpreter's own native functions ---------------------------------------------------


def base_name(function: str) -> str:
    """``take_gil.lto_priv.0`` → ``take_gil``: compiler clones keep the function's identity."""
    return function.split(".", 1)[0].split("@", 1)[0]


@functools.lru_cache(maxsize=1)
def collector_functions() -> frozenset[str]:
    """The garbage collector's functions, as the analyzer names them (2.7 to 3.13)."""
    from .analysis import load_native

    return frozenset(load_native().COLLECTOR_FUNCTIONS)


def collecting_from_native(native: Sequence[Frame]) -> bool:
    """The thread is inside the garbage collector."""
    collector = collector_functions()
    return any(base_name(frame.function) in collector for frame in native)


# --- Which thread an analysis is about --------------------------------------------------------


class ThreadReason(str, Enum):
    """Why a thread was chosen as the one a crash or hang is about (said by ``--explain``)."""

    SIGNALED = "the thread that received the signal"
    GIL_HOLDER = "no thread received a signal: the GIL holder"
    WAITING_MAIN = "a snapshot: the main thread, which waits"
    WAITING = "a snapshot: the first thread that waits"
    MAIN = "a snapshot where no thread waits: the main thread"
    FIRST_PYTHON = "the first thread with Python frames"
    FIRST = "the first thread with frames"
    NONE = "no thread has frames"


class ThreadChoice(Record):
    """The thread an analysis is about (None: no thread has frames), and why."""

    __slots__ = ("thread", "reason")
    thread: Thread | None
    reason: ThreadReason

    def __init__(self, thread: Thread | None, reason: ThreadReason) -> None:
        object.__setattr__(self, "thread", thread)
        object.__setattr__(self, "reason", reason)


# Innermost native frames of a thread that is blocked, not running: futex waits (locks,
# conditions, events, joins, queues), sleeps and I/O multiplexing, by their glibc names.
_BLOCKING = (
    r"^(?:futex_\w+|futex_abstimed_wait\w*|lll_lock_wait\w*|pthread_cond_\w*wait|"
    r"pthread_join|sem_\w*wait|do_futex_wait|"
    r"(?:clock_)?nanosleep|sleep|usleep|poll|ppoll|select|pselect6?|epoll_wait|epoll_pwait2?|"
    r"wait4|waitpid|waitid|read|recv|recvfrom|recvmsg|accept4?|sigtimedwait|sigwaitinfo|pause|"
    r"msgrcv|semop|semtimedop)\b"
)
# Without native frames: the Python functions that block until something happens.
_WAITING_PYTHON = (
    r"^(?:wait|wait_for|acquire|join|sleep|select|poll|get|recv|recv_into|recvfrom|accept|"
    r"readline|read|communicate|result|_wait_for_tstate_lock|_worker|serve_forever)$"
)
_INNERMOST_EXAMINED = 12  # native frames under the last Python frame worth looking at


def is_waiting(thread: Thread) -> bool:
    """The thread is blocked (lock, event, condition, join, select, sleep, futex), not running.

    A thread that holds the GIL runs Python code; one waiting for the GIL is runnable: neither
    counts. The native stack decides when there is one; else the innermost Python function.
    """
    if thread.gil is not None or not thread.frames:
        return False
    innermost = list(reversed(thread.frames))
    natives = [f for f in innermost[:_INNERMOST_EXAMINED] if f.kind is FrameKind.NATIVE]
    if natives:
        return any(re.match(_BLOCKING, _glibc_name(f.function)) for f in natives[:6])
    python = next((f for f in innermost if f.kind is FrameKind.PYTHON), None)
    return python is not None and bool(re.match(_WAITING_PYTHON, python.function))


def _glibc_name(function: str) -> str:
    """``__GI___poll`` → ``poll``: glibc's internal aliases of its public functions."""
    return re.sub(r"^(?:__GI_)?_*", "", base_name(function))


def crashing_thread(analysis: Analysis) -> ThreadChoice:
    """The thread an analysis is about.

    A crash: the thread that took the fatal signal, else the GIL holder. A snapshot (a hang):
    the code that waits, the main thread first, else the main thread; never a running thread
    (the same hang caught at different moments must name the same code). Then the first thread
    with Python frames, then any thread with frames.
    """
    threads = analysis.threads
    signaled = next((t for t in threads if t.crashed), None)
    if signaled is not None:
        return ThreadChoice(signaled, ThreadReason.SIGNALED)
    if analysis.is_snapshot:
        choice = _waiting_thread(analysis)
        if choice is not None:
            return choice
    else:
        holder = next((t for t in threads if t.gil is GilState.HELD), None)
        if holder is not None:
            return ThreadChoice(holder, ThreadReason.GIL_HOLDER)
    for test, reason in (
        (lambda t: t.python and bool(t.frames), ThreadReason.FIRST_PYTHON),
        (lambda t: bool(t.frames), ThreadReason.FIRST),
    ):
        found = next((t for t in threads if test(t)), None)
        if found is not None:
            return ThreadChoice(found, reason)
    return ThreadChoice(None, ThreadReason.NONE)


def _waiting_thread(analysis: Analysis) -> ThreadChoice | None:
    pid = analysis.core.pid if analysis.core is not None else None
    main = next((t for t in analysis.threads if t.tid == pid and t.frames), None)
    if main is not None and is_waiting(main):
        return ThreadChoice(main, ThreadReason.WAITING_MAIN)
    waiting = next((t for t in analysis.threads if t.python and is_waiting(t)), None)
    if waiting is not None:
        return ThreadChoice(waiting, ThreadReason.WAITING)
    if main is not None:
        return ThreadChoice(main, ThreadReason.MAIN)
    return None


def informativeness(analysis: Analysis) -> int:
    """How much the stack a crash is about tells a reader: symbolized frames count, unknown
    (``???``) frames count against, locals are worth a lot. Ranks a group's example crashes."""
    thread = crashing_thread(analysis).thread
    if thread is None:
        return 0
    known = sum(1 for frame in thread.frames if frame.function not in ("", "???"))
    unknown = len(thread.frames) - known
    has_locals = any(frame.locals or frame.arguments for frame in thread.frames)
    return 2 * min(known, 500) - min(unknown, 500) + (100 if has_locals else 0)
