"""Reading analyzer output: PyStack-style text (from pystack or triage) and triage's JSON."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .truth import Frame, Truth

_THREAD = re.compile(r"^Traceback for thread (\d+)")
_EMPTY = re.compile(r"^The frame stack for thread (\d+) is empty")
_PYTHON_FRAME = re.compile(r'^\s+\(Python\) File "(.*)", line (-?\d+), in (.*)$')
_PAIRS = re.compile(r"(\w+): (\S*)")
_EXECUTABLE = re.compile(r"^executable: (.*?) arguments: (.*)$")
_SIGNAL_LINE = re.compile(r"^(The process died due .*|The core file seems .*)$")
_USING = "Using executable found in the core file: "


@dataclass
class TextReport:
    """What a PyStack-compatible text report says: header fields and Python frames."""

    using_executable: str | None = None
    header: dict[str, str] = field(default_factory=dict)
    signal_line: str | None = None
    threads: dict[int, list[Frame]] = field(default_factory=dict)
    gil_holders: set[int] = field(default_factory=set)


def parse_text(text: str) -> TextReport:
    report = TextReport()
    current: list[Frame] | None = None
    in_header = False
    for line in text.splitlines():
        if line.startswith(_USING):
            report.using_executable = line[len(_USING) :]
        elif line == "Core file information:":
            in_header = True
        elif match := _THREAD.match(line) or _EMPTY.match(line):
            in_header = False
            tid = int(match.group(1))
            current = report.threads.setdefault(tid, [])
            if "Has the GIL" in line:
                report.gil_holders.add(tid)
        elif match := _PYTHON_FRAME.match(line):
            if current is not None:
                current.append(Frame(match.group(1), match.group(3), int(match.group(2))))
        elif in_header:
            _header_line(report, line)
    return report


def _header_line(report: TextReport, line: str) -> None:
    if match := _SIGNAL_LINE.match(line):
        report.signal_line = match.group(1).rstrip()
    elif match := _EXECUTABLE.match(line):
        report.header["executable"] = match.group(1)
        report.header["arguments"] = match.group(2).rstrip()
    else:
        report.header.update(_PAIRS.findall(line))


def json_python_frames(thread: dict[str, Any]) -> list[Frame]:
    """The Python frames of one thread of ``triage --json``, outermost first."""
    return [
        Frame(frame["file"], frame["function"], frame["line"])
        for frame in thread["frames"]
        if frame["kind"] == "python"
    ]


def json_threads(report: dict[str, Any]) -> dict[int, list[Frame]]:
    """tid -> Python frames, for every thread of ``triage --json`` that has Python frames."""
    threads = {}
    for thread in report["threads"]:
        frames = json_python_frames(thread)
        if frames:
            threads[thread["tid"]] = frames
    return threads


def frames_difference(actual: Sequence[Frame], expected: Sequence[Frame]) -> str | None:
    """None when equal, else a short description of the first difference."""
    actual, expected = list(actual), list(expected)
    if actual == expected:
        return None
    index = next(
        (i for i, (a, e) in enumerate(zip(actual, expected)) if a != e),
        min(len(actual), len(expected)),
    )
    lines = [f"{len(actual)} frames, expected {len(expected)}; first difference at #{index}:"]
    for i in range(max(0, index - 2), index + 3):
        got = actual[i] if i < len(actual) else "<none>"
        want = expected[i] if i < len(expected) else "<none>"
        marker = "  " if got == want else "!!"
        lines.append(f"  {marker} #{i} got:      {got}")
        if got != want:
            lines.append(f"  {marker} #{i} expected: {want}")
    return "\n".join(lines)


def threads_difference(
    actual: dict[int, list[Frame]], expected: dict[int, list[Frame]], what: str
) -> list[str]:
    """Every thread-level difference between two tid -> frames maps."""
    problems = []
    if set(actual) != set(expected):
        problems.append(f"{what}: thread ids {sorted(actual)}, expected {sorted(expected)}")
    for tid in sorted(set(actual) & set(expected)):
        difference = frames_difference(actual[tid], expected[tid])
        if difference:
            problems.append(f"{what}: thread {tid}: {difference}")
    return problems


def truth_threads(truth: Truth) -> dict[int, list[Frame]]:
    """tid -> frames of the recorded truth (every scenario thread has a known tid here)."""
    threads = {}
    for thread in truth.threads:
        assert thread.tid is not None, f"no tid recorded for thread {thread.ident}"
        threads[thread.tid] = list(thread.frames)
    return threads
