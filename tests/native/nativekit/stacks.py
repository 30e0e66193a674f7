"""Reading the threads and frames of ``triage ... --json``."""

from __future__ import annotations

from typing import Any

Frame = dict[str, Any]
Thread = dict[str, Any]


def thread_by_tid(document: dict[str, Any], tid: int) -> Thread | None:
    return next((t for t in document["threads"] if t["tid"] == tid), None)


def crashed_thread(document: dict[str, Any]) -> Thread:
    crashed = [t for t in document["threads"] if t.get("crashed")]
    assert len(crashed) == 1, f"expected one crashed thread, got {describe_threads(document)}"
    return crashed[0]


def python_functions(frames: list[Frame]) -> list[str]:
    return [f["function"] for f in frames if f["kind"] == "python"]


def native_functions(frames: list[Frame]) -> list[str]:
    return [f["function"] for f in frames if f["kind"] == "native"]


def index_of_python(frames: list[Frame], function: str) -> int:
    """The index of the only Python frame running FUNCTION."""
    found = [i for i, f in enumerate(frames) if f["kind"] == "python" and f["function"] == function]
    assert len(found) == 1, f"Python frame {function!r} found {len(found)} times:\n" + describe(
        frames
    )
    return found[0]


def from_library(frames: list[Frame], library: str) -> list[Frame]:
    return [f for f in frames if f["kind"] == "native" and f["library"] == library]


def describe(frames: list[Frame]) -> str:
    """One line per frame, as the text output reads (for assertion messages)."""
    lines = []
    for frame in frames:
        if frame["kind"] == "python":
            lines.append(f"  (Python) {frame['function']} {frame['file']}:{frame['line']}")
        else:
            inlined = " (inlined)" if frame.get("inlined") else ""
            lines.append(
                f"  (C) {frame['function']}{inlined} ({frame.get('library')}) "
                f"{frame.get('file')}:{frame.get('line')}"
            )
    return "\n".join(lines)


def describe_threads(document: dict[str, Any]) -> str:
    return "\n".join(
        f"thread {t['tid']} python={t.get('python')} crashed={t.get('crashed')}:\n"
        + describe(t["frames"])
        for t in document["threads"]
    )
