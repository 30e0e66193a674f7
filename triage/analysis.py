"""The one bridge to ``triage._native``: run it and turn its plain dicts into ``triage.model``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence

from .errors import AnalysisFailed, InputError, TriageError
from .model import Analysis, CoreInfo, Frame, Source, Thread
from .native_merge import (
    can_merge,
    collecting_from_native,
    gil_from_native,
    merge,
    merge_partial,
)

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: see triage.model
if TYPE_CHECKING:
    from typing import Any, Literal

    from .model import GilState

    NativeMode = Literal["native", "all", "last"]

# The extension's GIL codes: 1 held, 2 waiting (in take_gil), 3 dropping (in drop_gil).
GIL_STATES: dict[int, GilState] = {1: "held", 2: "waiting", 3: "dropping"}

NO_PYTHON_HELP = """\
No Python interpreter state was found in the core. Either the process was not running Python,
or the files it had mapped (the executable, libpython) are not the ones on this machine. Pass the
Python executable as the second argument, and point --lib-search-root (or --lib-search-path) at
a copy of the libraries the process used."""

NATIVE_MISSING_HELP = """\
The compiled part of coretriage (triage._native) could not be imported. Reinstall the package
(pip install --force-reinstall coretriage) or, from a checkout, run `pip install -e .`."""


def analyze_core(
    path: str | os.PathLike[str],
    executable: str | os.PathLike[str] | None = None,
    lib_search_path: Sequence[str] | None = None,
    lib_search_root: str | os.PathLike[str] | None = None,
    locals: bool = False,
    native_mode: NativeMode | None = None,
) -> Analysis:
    """Analyze a core file and return its Python stacks.

    Raises ``InputError`` when the file is not a usable core and ``AnalysisFailed`` when it is
    readable but nothing could be computed from it. A core of a process that is not Python is
    *not* an error here: the result has ``python_version`` None and a ``python_error``.
    """
    _native = _load_native()
    core = os.fspath(path)
    if isinstance(lib_search_path, str):  # "P1:P2", as given on the command line
        lib_search_path = [p for p in lib_search_path.split(":") if p]
    try:
        result = _native.analyze_core(
            core,
            os.fspath(executable) if executable is not None else None,
            [os.fspath(p) for p in lib_search_path] if lib_search_path else None,
            os.fspath(lib_search_root) if lib_search_root is not None else None,
            locals=locals,
            native=native_mode is not None,
            native_all=native_mode == "all",
        )
    except _native.CoreFileError as exc:
        raise InputError(_naming(core, str(exc))) from exc
    except _native.AnalysisError as exc:
        raise AnalysisFailed(_naming(core, str(exc)), help=NO_PYTHON_HELP) from exc
    except OSError as exc:
        # The extension may surface errno failures (EACCES, ENOENT) directly.
        raise InputError(_naming(core, exc.strerror or str(exc))) from exc
    return analysis_from_dict(result, core, with_locals=locals, native_mode=native_mode)


def analyze_process(
    pid: int, block: bool = True, locals: bool = False, native_mode: NativeMode | None = None
) -> Analysis:
    """Analyze a running process: stopped for the reads when ``block``, else read as it runs.

    Raises ``InputError`` when the process cannot be inspected (no such process, a zombie,
    permission denied) and ``AnalysisFailed`` when nothing usable could be read.
    """
    _native = _load_native()
    try:
        result = _native.analyze_process(
            pid,
            block=block,
            locals=locals,
            native=native_mode is not None,
            native_all=native_mode == "all",
        )
    except _native.ProcessError as exc:
        raise InputError(str(exc)) from exc
    except _native.AnalysisError as exc:
        raise AnalysisFailed(f"process {pid}: {exc}", help=NO_PYTHON_HELP) from exc
    return analysis_from_dict(result, str(pid), with_locals=locals, native_mode=native_mode)


def _load_native() -> Any:
    try:
        # Imported here so that the rest of the package (and its tests) works without the
        # compiled extension.
        from . import _native
    except ImportError as exc:
        raise TriageError(
            f"the native extension is not available: {exc}", help=NATIVE_MISSING_HELP
        ) from exc
    return _native


def _naming(path: str, message: str) -> str:
    """The message, prefixed with the core's path unless it already names it."""
    return message if path in message else f"{path}: {message}"


def analysis_from_dict(
    result: Mapping[str, Any],
    path: str | None = None,
    with_locals: bool = False,
    native_mode: NativeMode | None = None,
) -> Analysis:
    """Convert the dict of ``_native.analyze_core`` / ``analyze_process`` into an ``Analysis``."""
    live = "process" in result
    core = core_info_from_dict(result["process"] if live else result["core"], path)
    crashed_tid = core.crashed_tid
    version = _version(result["python_version"]) if result.get("python_version") else None
    return Analysis(
        source=Source(
            kind="process" if live else "core",
            path=core.path,
            executable=result.get("executable"),
            executable_from_core=not live and bool(result.get("executable_from_core", False)),
        ),
        core=core,
        python_version=version,
        python_error=result.get("python_error"),
        threads=tuple(
            thread_from_dict(thread, crashed_tid, with_locals, native_mode, version)
            for thread in result.get("threads", ())
        ),
        missing_libraries=tuple(result.get("missing_libraries", ())),
        warnings=tuple(result.get("warnings", ())),
        stopped_seconds=result["process"].get("stopped_seconds") if live else None,
    )


def core_info_from_dict(core: Mapping[str, Any], path: str | None = None) -> CoreInfo:
    """Convert the ``"core"`` sub-dict (process information from the core's notes)."""
    return CoreInfo(
        path=core.get("path") or path or "",
        pid=core["pid"],
        ppid=core.get("ppid", 0),
        pgrp=core.get("pgrp", 0),
        sid=core.get("sid", 0),
        uid=core.get("uid", 0),
        gid=core.get("gid", 0),
        state=core.get("state") or "?",
        zombie=bool(core.get("zombie", False)),
        nice=core.get("nice", 0),
        fname=core.get("fname", ""),
        psargs=core.get("psargs", ""),
        signal=core.get("signal", 0),
        si_code=core.get("si_code", 0),
        si_errno=core.get("si_errno", 0),
        fault_address=core.get("fault_address"),
        sender_pid=core.get("sender_pid"),
        sender_uid=core.get("sender_uid"),
        execfn=core.get("execfn"),
        tids=tuple(core.get("tids", ())),
        compression=core.get("compression"),
        full_argv=tuple(core["argv"]) if "argv" in core else None,
    )


def thread_from_dict(
    thread: Mapping[str, Any],
    crashed_tid: int | None = None,
    with_locals: bool = False,
    native_mode: NativeMode | None = None,
    version: tuple[int, int, int] | None = None,
) -> Thread:
    """Convert one ``"threads"`` entry; ``crashed_tid`` is the tid that took the fatal signal.

    With a native mode, the frames are the merged Python + native stack, and the GIL and GC
    states also come from the native frames (a thread inside take_gil is waiting for it).
    """
    gil: GilState | None = GIL_STATES.get(thread.get("gil", -1))
    # The extension says which thread runs the collector (machine-stack evidence, else the
    # GIL holder while a collection runs); -1 when the collector's state cannot be read.
    gc_raw = thread.get("gc", -1)
    gc: bool | None = None if gc_raw == -1 else gc_raw == 1
    python = bool(thread.get("python", True))
    warnings = tuple(thread.get("warnings", ()))
    frames = tuple(frame_from_dict(frame, with_locals) for frame in thread.get("frames", ()))
    merge_failed = False
    if native_mode is not None:
        native = tuple(native_frame_from_dict(f) for f in thread.get("native_frames", ()))
        gil = gil or gil_from_native(native)
        gc = True if collecting_from_native(native) else gc
        if not python:
            frames = native
        elif native and can_merge(frames, native, version):
            frames = tuple(merge(frames, native, version, last_only=native_mode == "last"))
        elif (partial := merge_partial(frames, native, version, native_mode == "last")) is not None:
            frames = tuple(partial)
            warnings = (
                *warnings,
                "native stack cut short (a library missing here?); "
                "outer Python frames are shown without their native callers",
            )
        else:
            # Usually a library that is not on this machine (no CFI to unwind through it):
            # the native frames stop early and cannot be matched to the Python ones.
            merge_failed = True
            warnings = (
                *warnings,
                f"native stack ({len(native)} frames) could not be merged with the Python "
                "stack; Python frames only",
            )
    tid = thread["tid"]
    return Thread(
        tid=tid,
        frames=frames,
        gil=gil,
        gc=gc,
        crashed=crashed_tid is not None and tid == crashed_tid,
        python=python,
        interpreter_id=thread.get("interpreter_id") if python else None,
        truncated=bool(thread.get("truncated", False)),
        warnings=warnings,
        merge_failed=merge_failed,
    )


def native_frame_from_dict(frame: Mapping[str, Any]) -> Frame:
    """Convert one native frame; a line of 0 (unknown) becomes None."""
    line = frame.get("line") or None
    return Frame(
        kind="native",
        function=frame.get("function") or "???",
        file=frame.get("file"),
        line=line,
        library=frame.get("library"),
        address=frame.get("address"),
        offset=frame.get("offset"),
        library_path=frame.get("library_path"),
        inlined=bool(frame.get("inlined", False)),
    )


def frame_from_dict(frame: Mapping[str, Any], with_locals: bool = False) -> Frame:
    """Convert one Python frame; a line of -1 (unknown) becomes None."""
    line = frame.get("line", -1)
    first_line = frame.get("first_line")
    return Frame(
        arguments=_pairs(frame.get("arguments", ())) if with_locals else None,
        locals=_pairs(frame.get("locals", ())) if with_locals else None,
        kind="python",
        function=frame["function"],
        file=frame["file"],
        line=line if line is not None and line >= 0 else None,
        qualname=frame.get("qualname"),
        first_line=first_line if first_line is not None and first_line >= 0 else None,
        is_entry=bool(frame.get("is_entry", False)),
    )


def _pairs(items: Iterable[Sequence[str]]) -> tuple[tuple[str, str], ...]:
    return tuple((str(name), str(value)) for name, value in items)


def _version(parts: Iterable[int]) -> tuple[int, int, int]:
    major, minor, micro = (list(parts) + [0, 0, 0])[:3]
    return (int(major), int(minor), int(micro))
