"""PyStack-compatible text output: core header, then one traceback per thread."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..model import (
    Analysis,
    CoreInfo,
    ExceptionInFlight,
    Frame,
    FrameKind,
    SourceKind,
    Thread,
    signal_name,
)
from ..native_merge import UNMERGEABLE
from ..stack import status_labels
from .source import SourceCache
from .style import Palette, escape

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import TextIO

UNKNOWN_LINE = 0  # PyStack prints "line 0" when the location table has no entry


def thread_status(thread: Thread) -> str:
    """PyStack's status list: comma-joined without spaces, ``[]`` when empty."""
    return "[" + ",".join(status_labels(thread)) + "]"


def python_name_text(name: str) -> str:
    """threading's name of a thread, double-quoted: quotes and backslashes escaped, control
    characters too, so the name ends where the quote does."""
    return '"' + escape(name.replace("\\", "\\\\").replace('"', '\\"')) + '"'


def header_lines(analysis: Analysis, palette: Palette) -> list[str]:
    """The optional executable line and the "Core file information" block (PyStack's §7)."""
    lines = []
    if analysis.source.executable_from_core and analysis.source.executable:
        lines.append(
            f"Using executable found in the core file: {escape(analysis.source.executable)}"
        )
    core = analysis.core
    if core is None:
        return lines
    g = palette.green
    lines += [
        "",
        palette.blue("Core file information:"),
        f"state: {g(escape(core.state))} zombie: {g(str(core.zombie))} "
        f"niceness: {g(str(core.nice))}",
        f"pid: {g(str(core.pid))} ppid: {g(str(core.ppid))} sid: {g(str(core.sid))}",
        f"uid: {g(str(core.uid))} gid: {g(str(core.gid))} pgrp: {g(str(core.pgrp))}",
        f"executable: {g(escape(core.fname))} arguments: {g(escape(core.psargs))}",
        "",
        failure_line(core, palette),
    ]
    return lines


def failure_line(core: CoreInfo, palette: Palette) -> str:
    """How the process died, with PyStack's wording (typos included) but the right facts."""
    yellow, red = palette.yellow, palette.red
    if core.is_fault:
        # PyStack says "segmentation fault" for SIGBUS/SIGILL/SIGFPE too; kept for compatibility.
        return yellow("The process died due a segmentation fault accessing address: ") + red(
            hex(core.fault_address or 0)
        )
    if core.signal:
        message = f"The process died due receiving signal {red(signal_name(core.signal))}"
        sender = core.sent_by
        if sender is not None:
            message += yellow(f" sent by pid {red(str(sender))}")
        return yellow(message)
    return yellow(
        "The core file seems to have been generated on demand (the process did not crash)"
    )


def highlighted(source: str, frame: Frame, palette: Palette) -> str:
    """The source line, stripped, with the frame's expression in blue (3.11+ columns), as
    PyStack shows it on a terminal. The columns count UTF-8 bytes of the line."""
    stripped = source.strip()
    start, end = frame.column, frame.end_column
    if not palette.enabled or start is None or end is None or (start == end == 0):
        return escape(stripped)
    raw = source.encode("utf-8", "surrogatepass")
    if frame.end_line is not None and frame.line is not None and frame.end_line != frame.line:
        end = len(raw)  # the expression goes on below: up to the end of this line
    if not 0 <= start < end <= len(raw):
        return escape(stripped)
    before, inside, after = (
        raw[:start].decode(errors="replace").lstrip(),
        raw[start:end].decode(errors="replace"),
        raw[end:].decode(errors="replace").rstrip(),
    )
    return escape(before) + palette.blue(escape(inside)) + escape(after)


def native_frame_line(frame: Frame, palette: Palette) -> str:
    """``(C) File "F", line N, in FUNC[ (inlined)] (LIB)``, with PyStack's ``???``/0 gaps."""
    library = frame.library or "???"
    if frame.function == "???" or frame.file is None:
        file = frame.file or ("???" if frame.function != "???" else library)
    else:
        file = frame.file
    inlined = " (inlined)" if frame.inlined else ""
    where = palette.faint(f"({escape(library)})")
    return (
        f'    {palette.blue("(C)")} File "{escape(file)}", line {frame.line or 0}, '
        f"in {palette.yellow(escape(frame.function))}{inlined} {where}"
    )


def frame_lines(frame: Frame, palette: Palette, sources: SourceCache) -> Iterator[str]:
    """A Python frame and, when its file is readable here, its source line; or a native one."""
    if frame.kind is FrameKind.NATIVE:
        yield native_frame_line(frame, palette)
        return
    line = frame.line if frame.line is not None else UNKNOWN_LINE
    file = frame.file or "???"
    yield (
        f'    {palette.green("(Python)")} File "{escape(file)}", line {line}, '
        f"in {palette.yellow(escape(frame.function))}"
    )
    source = sources.line(file, frame.line) if frame.file else None
    if source is not None:
        yield f"        {highlighted(source, frame, palette)}"
    for title, pairs in (("Arguments:", frame.arguments), ("Locals:", frame.locals)):
        if pairs:
            yield f"      {palette.faint(title)}"
            for name, value in pairs:
                yield f"        {escape(name)}: {escape(value)}"


def exception_lines(exception: ExceptionInFlight, palette: Palette) -> Iterator[str]:
    """The exception in flight, after the thread's frames: what it is, and where it came from."""
    doing = "Handling" if exception.handled else "Raising"
    shown = escape(exception.repr or exception.type)
    yield f"    {palette.red(doing + ' exception:')} {shown}"
    for frame in exception.traceback:
        line = frame.line if frame.line is not None else UNKNOWN_LINE
        where = f'File "{escape(frame.file or "???")}", line {line}'
        yield f"      raised in {where}, in {escape(frame.function)}"


def thread_lines(
    thread: Thread,
    palette: Palette,
    sources: SourceCache,
    show_header: bool = True,
    show_interpreter: bool = False,
) -> Iterator[str]:
    """One thread's traceback, outermost frame first, as PyStack's format_thread."""
    if not thread.frames and not show_interpreter:
        yield f"The frame stack for thread {thread.tid} is empty"
        return
    status = thread_status(thread)
    # threading's name follows the status: PyStack prints nothing there, so a line stays
    # PyStack's up to the status, and the name belongs to the interpreter whose threading
    # module gave it (the interpreter's line when several are shown).
    python_name = f" {python_name_text(thread.python_name)}" if thread.python_name else ""
    if show_header:
        middle = "" if show_interpreter else f"{status}{python_name} "
        # PyStack's form: the name (live, the OS name) in parentheses after the tid; a core
        # has none.
        name = f" ({escape(thread.name)})" if thread.name else ""
        yield f"Traceback for thread {thread.tid}{name} {middle}(most recent call last):"
    if show_interpreter:
        if thread.interpreter_id is None:
            where = "Not currently attached to any interpreter"
        elif thread.interpreter_id == 0:
            where = "In the main interpreter"
        else:
            where = f"In interpreter {thread.interpreter_id}"
        yield f"  {where} {status}{python_name}"
    if thread.merge_failed:
        yield UNMERGEABLE
    for frame in thread.frames:
        yield from frame_lines(frame, palette, sources)
    if thread.exception is not None:
        yield from exception_lines(thread.exception, palette)


def threads_lines(
    threads: Sequence[Thread], palette: Palette, sources: SourceCache
) -> Iterator[tuple[Thread, list[str]]]:
    """Each thread with its lines; a blank line separates tids, as in PyStack's print_threads."""
    interpreters = {t.interpreter_id for t in threads if t.interpreter_id is not None}
    show_interpreter = len(interpreters) > 1
    for index, thread in enumerate(threads):
        same_tid = index > 0 and thread.tid == threads[index - 1].tid
        lines = [] if index == 0 or same_tid else [""]
        lines += thread_lines(
            thread, palette, sources, show_header=not same_tid, show_interpreter=show_interpreter
        )
        yield thread, lines


def thread_warning_lines(thread: Thread) -> list[str]:
    """Problems met while decoding one thread, for stderr."""
    lines = [f"WARNING: thread {thread.tid}: {escape(message)}" for message in thread.warnings]
    if thread.truncated:
        lines.append(
            f"WARNING: thread {thread.tid}: stack truncated after {len(thread.frames)} frames"
        )
    return lines


def write_text(
    analysis: Analysis,
    out: TextIO,
    err: TextIO,
    color: bool = False,
    sources: SourceCache | None = None,
    show_warnings: bool = True,
) -> None:
    """Print the header and every thread to ``out``, warnings to ``err`` (unless the caller
    reports them itself, e.g. inside a one-line error)."""
    palette = Palette(color)
    sources = sources if sources is not None else SourceCache()
    if analysis.source.kind is SourceKind.CORE:
        _emit(out, header_lines(analysis, palette))
    warnings = [f"WARNING: {escape(message)}" for message in analysis.warnings]
    warnings += [
        f"WARNING: Failed to locate {escape(path)} (mapped by the process, not on this machine)"
        for path in analysis.missing_libraries
    ]
    if warnings and show_warnings:
        out.flush()  # keep stdout and stderr in order on a terminal
        _emit(err, warnings)
    for thread, lines in threads_lines(analysis.threads, palette, sources):
        _emit(out, lines)
        warnings = thread_warning_lines(thread)
        if warnings:
            out.flush()
            _emit(err, warnings)
    out.flush()


def _emit(stream: TextIO, lines: list[str]) -> None:
    for line in lines:
        stream.write(line + "\n")
