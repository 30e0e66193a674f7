"""Thread and frame views of an analysis JSON document, with each frame's origin classified.

The origin tells a reader at a glance which frames are the service's own code:
``own`` (application code), ``library`` (standard library, site-packages, shared libraries) or
``interpreter`` (CPython itself: libpython, the python executable, frozen bootstrap modules).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Origin = Literal["own", "library", "interpreter"]
SourceLookup = Callable[[str, int], "str | None"]

# Third-party code, whatever the installer or the distribution called the directory.
_THIRD_PARTY = re.compile(r"[/\\](site|dist)-packages[/\\]")
# The standard library: .../lib/python3.12/..., .../lib64/python3.12t/..., Lib\ on Windows.
_STDLIB = re.compile(r"[/\\]lib(64)?[/\\]python\d+(\.\d+)?[td]?[/\\]|[/\\]Lib[/\\]", re.I)
# Native objects that are the interpreter: libpython3.12.so.1.0, python3.12, python3.12d.
_INTERPRETER_LIBRARY = re.compile(r"^(lib)?python\d*(\.\d+)*[dmt]*(\.so[.\d]*)?$")
# Interpreter functions when no library name was recorded (a static python build).
_INTERPRETER_FUNCTION = re.compile(r"^(_?Py[A-Z_]|_Py|slot_tp_|method_vectorcall|cfunction_)")

GIL_LABELS = {"held": "Has the GIL", "waiting": "Waiting for the GIL", "dropping": "Dropping GIL"}


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
    anchor: str  # "t<tid>": only digits come from the core
    crashed: bool
    python: bool
    gil: str | None  # human label, "Has the GIL"
    gc: bool
    truncated: bool
    warnings: tuple[str, ...]
    frames: tuple[FrameView, ...]

    @property
    def badges(self) -> tuple[str, ...]:
        found = [self.gil] if self.gil else []
        if self.gc:
            found.append("Garbage collecting")
        if not self.python:
            found.append("No Python")
        return tuple(found)


def classify(frame: Mapping[str, Any]) -> Origin:
    """Own code, library or interpreter, from the file (Python) or library (native) name."""
    native = frame.get("kind") == "native"
    return _classify(
        native,
        text(frame.get("file")) or "",
        text(frame.get("library")) or "" if native else "",
        text(frame.get("function")) or "" if native else "",
    )


# Cached: a report classifies the same few thousand files and libraries hundreds of times.
@functools.lru_cache(maxsize=1 << 16)
def _classify(native: bool, file: str, library: str, function: str) -> Origin:
    if not native:
        if file.startswith("<frozen"):
            return "interpreter"
        if _THIRD_PARTY.search(file) or _STDLIB.search(file):
            return "library"
        return "own"
    library = library.rsplit("/", 1)[-1]
    if library:
        return "interpreter" if _INTERPRETER_LIBRARY.match(library) else "library"
    return "interpreter" if _INTERPRETER_FUNCTION.match(function) else "library"


def frame_view(
    frame: Mapping[str, Any], with_locals: bool = True, sources: SourceLookup | None = None
) -> FrameView:
    kind = "native" if frame.get("kind") == "native" else "python"
    file = text(frame.get("file"))
    line = as_int(frame.get("line"))
    arguments, local_vars = _variables(frame) if with_locals else (None, None)
    source = text(frame.get("source"))  # a future analyzer may store the line itself
    if source is None and sources is not None and kind == "python" and file and line is not None:
        source = sources(file, line)
    return FrameView(
        kind=kind,
        origin=classify(frame),
        function=text(frame.get("function")) or "???",
        file=file,
        line=line,
        library=text(frame.get("library")) if kind == "native" else None,
        address=text(frame.get("address")) if kind == "native" else None,
        inlined=bool(frame.get("inlined")) if kind == "native" else False,
        source=source.strip() if source else None,
        arguments=arguments,
        locals=local_vars,
    )


def thread_view(
    thread: Mapping[str, Any],
    position: int,
    with_locals: bool = True,
    sources: SourceLookup | None = None,
) -> ThreadView:
    tid = as_int(thread.get("tid"))
    frames = thread.get("frames")
    return ThreadView(
        tid=tid if tid is not None else 0,
        # An anchor must be unique on the page even if a crafted document repeats a tid.
        anchor=f"t{tid if tid is not None else 0}-{position}",
        crashed=bool(thread.get("crashed")),
        python=thread.get("python", True) is not False,
        gil=GIL_LABELS.get(text(thread.get("gil")) or ""),
        gc=thread.get("gc") is True,
        truncated=bool(thread.get("truncated")),
        warnings=texts(thread.get("warnings")),
        frames=tuple(
            frame_view(frame, with_locals, sources)
            for frame in (frames if isinstance(frames, list) else ())
            if isinstance(frame, Mapping)
        ),
    )


def thread_views(
    analysis: Mapping[str, Any], with_locals: bool = True, sources: SourceLookup | None = None
) -> tuple[ThreadView, ...]:
    """Every thread, the crashed one first (it is the one a reader came for)."""
    threads = analysis.get("threads")
    views = [
        thread_view(thread, position, with_locals, sources)
        for position, thread in enumerate(threads if isinstance(threads, list) else ())
        if isinstance(thread, Mapping)
    ]
    return tuple(sorted(views, key=lambda view: not view.crashed))


def crashing_thread(analysis: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The thread a signature is computed from: crashed, else the GIL holder, else the first."""
    threads = [t for t in analysis.get("threads") or () if isinstance(t, Mapping)]
    for test in (
        lambda t: bool(t.get("crashed")),
        lambda t: t.get("gil") == "held",
        lambda t: t.get("python", True) is not False,
    ):
        found = next((thread for thread in threads if test(thread)), None)
        if found is not None:
            return found
    return None


def _variables(
    frame: Mapping[str, Any],
) -> tuple[tuple[Variable, ...] | None, tuple[Variable, ...] | None]:
    """Arguments and the other locals; (None, None) when the analysis did not record them."""
    values = frame.get("locals")
    if not isinstance(values, Mapping):
        return None, None
    names = frame.get("arguments")
    argument_names = [text(n) or "" for n in names] if isinstance(names, list) else []
    arguments = tuple(Variable(n, text(values.get(n)) or "") for n in argument_names)
    taken = set(argument_names)
    others = tuple(
        Variable(text(name) or "", text(value) or "")
        for name, value in values.items()
        if name not in taken
    )
    return arguments, others


def text(value: object) -> str | None:
    """A display string for a JSON value: None stays None, everything else becomes str."""
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def texts(values: object) -> tuple[str, ...]:
    if not isinstance(values, (list, tuple)):
        return ()
    return tuple(text(value) or "" for value in values)


def as_int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value
