"""Thread and frame views of an analysis, each frame with its origin (``triage.stack``).

The origin tells a reader at a glance which frames are the service's own code; it is the same
classification the signatures use, shown in three tiers: own code, libraries (standard library,
packages, shared libraries) and the interpreter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..model import Analysis, Frame, FrameKind, Thread
from ..stack import GC_LABEL, GIL_LABELS, Origin, crashing_thread, frame_origin

SourceLookup = Callable[[str, int], "str | None"]

# Origin → (CSS tier, short label shown on the frame).
_TIERS = {
    Origin.APPLICATION: ("own", "app"),
    Origin.THIRD_PARTY: ("library", "pkg"),
    Origin.STDLIB: ("library", "std"),
    Origin.NATIVE_LIBRARY: ("library", "lib"),
    Origin.INTERPRETER: ("interpreter", "cpython"),
}


@dataclass(frozen=True)
class Variable:
    name: str
    value: str


@dataclass(frozen=True)
class FrameView:
    kind: str  # "python" or "native"
    origin: Origin
    function: str
    file: str | None
    line: int | None
    library: str | None = None
    address: str | None = None
    inlined: bool = False
    source: str | None = None
    # None: not recorded, or left out with --no-locals; the template then shows nothing.
    arguments: tuple[Variable, ...] | None = None
    locals: tuple[Variable, ...] | None = None

    @property
    def tier(self) -> str:
        return _TIERS[self.origin][0]

    @property
    def origin_label(self) -> str:
        return _TIERS[self.origin][1]

    @property
    def kind_label(self) -> str:
        return "Py" if self.kind == "python" else "C"

    @property
    def location(self) -> str:
        """``file:line`` as printed in tracebacks; empty when the file is unknown."""
        if not self.file:
            return ""
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    @property
    def has_variables(self) -> bool:
        return bool(self.arguments) or bool(self.locals)


@dataclass(frozen=True)
class ThreadView:
    tid: int
    anchor: str  # "t<tid>-<position>": only digits come from the core
    crashed: bool
    python: bool
    gil: str | None  # human label, "Has the GIL"
    gc: bool
    truncated: bool
    warnings: tuple[str, ...]
    frames: tuple[FrameView, ...]
    name: str | None = None  # the OS name (live)
    python_name: str | None = None  # threading's name (never part of a signature)
    # The exception in flight: "Handling ValueError('bad')" and where it was raised.
    exception: str | None = None
    exception_raised_at: tuple[str, ...] = ()
    innermost_first: bool = False  # frames in crash order (group pages), else in call order

    @property
    def badges(self) -> tuple[str, ...]:
        found = [self.gil] if self.gil else []
        if self.gc:
            found.append(GC_LABEL)
        if not self.python:
            found.append("No Python")
        return tuple(found)


def frame_view(
    frame: Frame,
    with_locals: bool = True,
    sources: SourceLookup | None = None,
    app_roots: Sequence[str] = (),
) -> FrameView:
    python = frame.kind is FrameKind.PYTHON
    source = None
    if sources is not None and python and frame.file and frame.line is not None:
        source = sources(frame.file, frame.line)
    return FrameView(
        kind=frame.kind.value,
        origin=frame_origin(frame, app_roots),
        function=frame.function or "???",
        file=frame.file,
        line=frame.line,
        library=None if python else frame.library,
        address=None if python or frame.address is None else hex(frame.address),
        inlined=frame.inlined,
        source=source.strip() if source else None,
        arguments=_variables(frame.arguments) if with_locals else None,
        locals=_variables(frame.locals) if with_locals else None,
    )


def _variables(pairs: tuple[tuple[str, str], ...] | None) -> tuple[Variable, ...] | None:
    return None if pairs is None else tuple(Variable(name, value) for name, value in pairs)


def thread_view(
    thread: Thread,
    position: int,
    with_locals: bool = True,
    sources: SourceLookup | None = None,
) -> ThreadView:
    return ThreadView(
        tid=thread.tid,
        # An anchor must be unique on the page even if a crafted document repeats a tid.
        anchor=f"t{thread.tid}-{position}",
        crashed=thread.crashed,
        python=thread.python,
        gil=GIL_LABELS[thread.gil] if thread.gil is not None else None,
        gc=thread.gc is True,
        truncated=thread.truncated,
        warnings=thread.warnings,
        frames=tuple(frame_view(frame, with_locals, sources) for frame in thread.frames),
        name=thread.name,
        python_name=thread.python_name,
        exception=_exception(thread),
        exception_raised_at=tuple(
            f"{frame.file or '???'}:{frame.line if frame.line is not None else '?'} "
            f"in {frame.function}"
            for frame in (thread.exception.traceback if thread.exception else ())
        ),
    )


def _exception(thread: Thread) -> str | None:
    if thread.exception is None:
        return None
    doing = "Handling" if thread.exception.handled else "Raising"
    return f"{doing} {thread.exception.repr or thread.exception.type}"


def thread_views(
    analysis: Analysis, with_locals: bool = True, sources: SourceLookup | None = None
) -> tuple[ThreadView, ...]:
    """Every thread, the one the crash is about first (the one a reader came for)."""
    chosen = crashing_thread(analysis).thread
    views = [
        (thread is chosen, thread_view(thread, position, with_locals, sources))
        for position, thread in enumerate(analysis.threads)
    ]
    return tuple(view for _, view in sorted(views, key=lambda item: not item[0]))


def signed_thread_view(analysis: Analysis | None, with_locals: bool) -> ThreadView | None:
    """The thread the signature describes (the same rule), for a group's example stack."""
    if analysis is None:
        return None
    chosen = crashing_thread(analysis)
    if chosen.thread is None:
        return None
    return thread_view(chosen.thread, analysis.threads.index(chosen.thread), with_locals)
