"""Running the analyzer: ``triage._native`` builds the model, this module finishes it.

The extension returns ``triage.model`` objects with each thread's Python frames and, in native
modes, its unwound native stack apart. Finishing marks the thread that took the fatal signal and
merges the two stacks into one (``triage.native_merge``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from .errors import AnalysisFailed, InputError, TriageError
from .model import Analysis, Thread, replace
from .native_merge import can_merge, merge, merge_partial
from .stack import collecting_from_native

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Literal

    NativeMode = Literal["native", "all", "last"]

NO_PYTHON_HELP = """\
No Python interpreter state was found in the core. Either the process was not running Python,
or the files it had mapped (the executable, libpython) are not the ones on this machine. Pass the
Python executable as the second argument, and point --lib-search-root (or --lib-search-path) at
a copy of the libraries the process used."""

NATIVE_MISSING_HELP = """\
The compiled part of coretriage (triage._native) could not be imported. Reinstall the package
(pip install --force-reinstall coretriage) or, from a checkout, run `pip install -e .`."""

CUT_SHORT = (
    "native stack cut short (a library missing here?); "
    "outer Python frames are shown without their native callers"
)


def analyze_core(
    path: str | os.PathLike[str],
    executable: str | os.PathLike[str] | None = None,
    lib_search_path: Sequence[str] | str | None = None,
    lib_search_root: str | os.PathLike[str] | None = None,
    locals: bool = False,
    native_mode: NativeMode | None = None,
) -> Analysis:
    """Analyze a core file and return its stacks.

    Raises ``InputError`` when the file is not a usable core and ``AnalysisFailed`` when it is
    readable but nothing could be computed from it. A core of a process that is not Python is
    *not* an error here: the result has ``python_version`` None and a ``python_error``.
    """
    native = load_native()
    core = os.fspath(path)
    if isinstance(lib_search_path, str):  # "P1:P2", as given on the command line
        lib_search_path = [p for p in lib_search_path.split(":") if p]
    try:
        raw = native.analyze_core(
            core,
            os.fspath(executable) if executable is not None else None,
            [os.fspath(p) for p in lib_search_path] if lib_search_path else None,
            os.fspath(lib_search_root) if lib_search_root is not None else None,
            locals=locals,
            native=native_mode is not None,
            native_all=native_mode == "all",
        )
    except native.CoreFileError as exc:
        raise InputError(_naming(core, str(exc))) from exc
    except native.AnalysisError as exc:
        raise AnalysisFailed(_naming(core, str(exc)), help=NO_PYTHON_HELP) from exc
    except OSError as exc:
        # The extension may surface errno failures (EACCES, ENOENT) directly.
        raise InputError(_naming(core, exc.strerror or str(exc))) from exc
    return finish(raw, native_mode)


def analyze_process(
    pid: int, block: bool = True, locals: bool = False, native_mode: NativeMode | None = None
) -> Analysis:
    """Analyze a running process: stopped for the reads when ``block``, else read as it runs.

    Raises ``InputError`` when the process cannot be inspected (no such process, a zombie,
    permission denied) and ``AnalysisFailed`` when nothing usable could be read.
    """
    native = load_native()
    try:
        raw = native.analyze_process(
            pid,
            block=block,
            locals=locals,
            native=native_mode is not None,
            native_all=native_mode == "all",
        )
    except native.ProcessError as exc:
        raise InputError(str(exc)) from exc
    except native.AnalysisError as exc:
        raise AnalysisFailed(f"process {pid}: {exc}", help=NO_PYTHON_HELP) from exc
    return finish(raw, native_mode)


def load_native() -> ModuleType:
    """The compiled extension, or a ``TriageError`` that says how to get it."""
    try:
        from . import _native
    except ImportError as exc:
        raise TriageError(
            f"the native extension is not available: {exc}", help=NATIVE_MISSING_HELP
        ) from exc
    return _native


def _naming(path: str, message: str) -> str:
    """The message, prefixed with the core's path unless it already names it."""
    return message if path in message else f"{path}: {message}"


def finish(raw: Analysis, native_mode: NativeMode | None = None) -> Analysis:
    """Mark the crashed thread and, in native modes, merge each thread's two stacks."""
    crashed_tid = raw.core.crashed_tid if raw.core is not None else None
    threads = tuple(
        finish_thread(thread, crashed_tid, native_mode, raw.python_version)
        for thread in raw.threads
    )
    return replace(raw, threads=threads)


def finish_thread(
    thread: Thread,
    crashed_tid: int | None,
    native_mode: NativeMode | None,
    version: tuple[int, ...] | None,
) -> Thread:
    """One thread: crashed or not, and its merged stack (the native stack is then dropped).

    The GIL state is the analyzer's in every mode (a real unwind confirms waiting and
    dropping); with a native mode a thread with the collector on its stack collects.
    """
    crashed = crashed_tid is not None and thread.tid == crashed_tid
    if native_mode is None:
        return replace(thread, crashed=crashed, native_frames=())
    native = thread.native_frames
    gc = True if collecting_from_native(native) else thread.gc
    frames, warnings, merge_failed = thread.frames, thread.warnings, False
    last = native_mode == "last"
    if not thread.python:
        frames = native
    elif native and can_merge(frames, native, version):
        frames = tuple(merge(frames, native, version, last_only=last))
    elif (partial := merge_partial(frames, native, version, last)) is not None:
        frames, warnings = tuple(partial), (*warnings, CUT_SHORT)
    else:
        # Usually a library that is not on this machine (no CFI to unwind through it): the
        # native frames stop early and cannot be matched to the Python ones.
        merge_failed = True
        warnings = (
            *warnings,
            f"native stack ({len(native)} frames) could not be merged with the Python stack; "
            "Python frames only",
        )
    return replace(
        thread,
        frames=frames,
        gc=gc,
        crashed=crashed,
        warnings=warnings,
        merge_failed=merge_failed,
        native_frames=(),
    )
