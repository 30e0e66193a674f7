"""A C++ extension (namespaces, a template, a lambda, an always_inline chain) calls a Python
callback, which calls back into the extension, which crashes: SIGSEGV by a NULL write, or
abort(). On the kernel core of every interpreter, ``triage core --native --json`` must show the
demangled C++ names, the inlined calls, and the real nesting:

    <module> > main > enter_extension          (Python)
    cxx_run > Widget<int>::crash > lambda      (C++, called by enter_extension)
    the_callback > deeper_callback             (Python, called by the lambda)
    cxx_boom > strike (inlined) > write_through (inlined) / abort   (C++)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from nativekit.builds import CXX_SOURCE
from nativekit.interpreters import Interpreter
from nativekit.labs import CRASH_MODES, CrashCores
from nativekit.stacks import (
    Frame,
    crashed_thread,
    describe,
    from_library,
    index_of_python,
    python_functions,
)
from nativekit.tools import Tools, parse_threads, pystack_command

LIBRARY = "cxxcrash.so"
PYTHON_STACK = ["<module>", "main", "enter_extension", "the_callback", "deeper_callback"]
RUN = "cxx_run(_object*, _object*)"
CRASH = "outer::inner::Widget<int>::crash(_object*, int)"
LAMBDA = CRASH + "::{lambda()#1}::operator()() const"
BOOM = "cxx_boom(_object*, _object*)"  # abort() is in its cold part: "... [clone .cold]"
STRIKE = "outer::detail::strike(int, int)"
WRITE = "outer::detail::write_through(int volatile*, int)"


def source_line(marker: str) -> int:
    """The line of cxxcrash.cpp that contains MARKER."""
    for number, line in enumerate(CXX_SOURCE.read_text().splitlines(), start=1):
        if marker in line:
            return number
    raise AssertionError(f"{marker!r} not in {CXX_SOURCE}")


def analyze(tools: Tools, core: Path, *flags: str) -> dict[str, Any]:
    return tools.triage_core_json(core, *flags)


def signature(frame: Frame) -> tuple[str, bool]:
    return frame["function"], bool(frame["inlined"])


@pytest.fixture(params=sorted(CRASH_MODES))
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def native_doc(
    interpreter: Interpreter, mode: str, crash_cores: CrashCores, tools: Tools
) -> dict[str, Any]:
    return analyze(tools, crash_cores.get(interpreter, mode), "--native")


def test_signal_and_python_stack(native_doc: dict[str, Any], mode: str) -> None:
    assert native_doc["process"]["signal"]["number"] == CRASH_MODES[mode][1]
    thread = crashed_thread(native_doc)
    assert thread["python"] is True
    assert python_functions(thread["frames"]) == PYTHON_STACK, describe(thread["frames"])


def test_cxx_frames_between_python_frames(native_doc: dict[str, Any]) -> None:
    """enter_extension > cxx_run > Widget<int>::crash > lambda > the_callback, with only
    native frames (interpreter call machinery at most) between the two Python frames."""
    frames = crashed_thread(native_doc)["frames"]
    enter = index_of_python(frames, "enter_extension")
    callback = index_of_python(frames, "the_callback")
    between = frames[enter + 1 : callback]
    assert all(f["kind"] == "native" for f in between), describe(frames)
    ours = [signature(f) for f in from_library(between, LIBRARY)]
    assert ours == [(RUN, False), (CRASH, False), (LAMBDA, False)], describe(frames)
    # Between the callback's own Python frames, at most the interpreter's call machinery
    # (3.7-3.9 show function_code_fastcall there, as PyStack does).
    inside = frames[callback + 1 : index_of_python(frames, "deeper_callback")]
    assert all(f["kind"] == "native" for f in inside), describe(frames)
    assert not from_library(inside, LIBRARY), describe(frames)


def test_crash_site_with_inlined_chain(native_doc: dict[str, Any], mode: str) -> None:
    frames = crashed_thread(native_doc)["frames"]
    after = frames[index_of_python(frames, "deeper_callback") + 1 :]
    assert after and all(f["kind"] == "native" for f in after), describe(frames)
    ours = from_library(after, LIBRARY)
    assert [f["function"] for f in ours][:1] in ([BOOM], [BOOM + " [clone .cold]"]), describe(
        frames
    )
    assert ours[0]["inlined"] is False
    if mode == "segv":
        assert [signature(f) for f in ours[1:]] == [(STRIKE, True), (WRITE, True)]
        assert after[-1] is ours[-1], "the NULL write is the innermost frame:\n" + describe(frames)
        assert after[-1]["file"].endswith("cxxcrash.cpp")
        assert after[-1]["line"] == source_line("*where = value;")
    else:
        assert [signature(f) for f in ours[1:]] == [(STRIKE, True)], describe(frames)
        assert ours[1]["line"] == source_line("std::abort();")
        libc = after[after.index(ours[-1]) + 1 :]
        assert "abort" in [f["function"] for f in libc], describe(frames)
        assert all(f["library"].startswith("libc.so") for f in libc), describe(frames)


def test_process_entry_frames_come_first(native_doc: dict[str, Any]) -> None:
    frames = crashed_thread(native_doc)["frames"]
    first_python = index_of_python(frames, "<module>")
    assert first_python > 0, describe(frames)
    assert all(f["kind"] == "native" for f in frames[:first_python])
    for frame in frames:
        if frame["kind"] == "native":
            assert frame["address"].startswith("0x") and frame["library"], frame


def test_native_last(
    interpreter: Interpreter, mode: str, crash_cores: CrashCores, tools: Tools
) -> None:
    """--native-last: every Python frame, then only the native frames after the last one."""
    core = crash_cores.get(interpreter, mode)
    full = crashed_thread(analyze(tools, core, "--native"))["frames"]
    last = crashed_thread(analyze(tools, core, "--native-last"))["frames"]
    tail = full[index_of_python(full, "deeper_callback") + 1 :]
    expected = [f for f in full if f["kind"] == "python"] + tail
    assert last == expected, "--native-last:\n" + describe(last) + "\n--native:\n" + describe(full)
    assert CRASH not in [f["function"] for f in last]


def test_python_only_is_unchanged(
    interpreter: Interpreter, mode: str, crash_cores: CrashCores, tools: Tools
) -> None:
    """Without a native flag, the same Python frames and no native one."""
    document = analyze(tools, crash_cores.get(interpreter, mode))
    frames = crashed_thread(document)["frames"]
    assert [f["kind"] for f in frames] == ["python"] * len(PYTHON_STACK), describe(frames)
    assert python_functions(frames) == PYTHON_STACK


def test_text_output_matches_json(
    current_interpreter: Interpreter, crash_cores: CrashCores, tools: Tools
) -> None:
    """The text report lists the same frames, inlined ones marked ``(inlined)``."""
    core = crash_cores.get(current_interpreter, "segv")
    document = analyze(tools, core, "--native")
    result = tools.triage_core(core, "--native", "--no-color")
    assert result.returncode == 0, result.describe()
    thread = crashed_thread(document)
    text = parse_threads(result.stdout)[thread["tid"]]
    expected = [
        f"(C) {f['function']}{' (inlined)' if f['inlined'] else ''}"
        if f["kind"] == "native"
        else f"(Python) {f['function']}"
        for f in thread["frames"]
    ]
    assert text.functions() == expected
    lines = result.stdout.splitlines()
    assert any(line.endswith(f"in {WRITE} (inlined) ({LIBRARY})") for line in lines), result.stdout
    assert any(f"in {LAMBDA} ({LIBRARY})" in line for line in lines), result.stdout


@pytest.mark.skipif(pystack_command() is None, reason="pystack is not installed")
def test_segv_frames_match_pystack(
    interpreter: Interpreter, crash_cores: CrashCores, tools: Tools
) -> None:
    """PyStack agrees on the whole merged stack of the NULL write (not of abort(): PyStack
    prints ``???`` for the ``[clone .cold]`` part of cxx_boom, where triage has the name)."""
    core = crash_cores.get(interpreter, "segv")
    ours = tools.triage_core(core, "--native", "--no-color")
    theirs = tools.pystack_core(core, "--native")
    assert ours.returncode == 0, ours.describe()
    assert theirs.returncode == 0, theirs.describe()
    expected = parse_threads(theirs.stdout)
    actual = parse_threads(ours.stdout)
    assert sorted(actual) == sorted(expected)
    for tid, thread in expected.items():
        assert actual[tid].functions() == thread.functions(), f"thread {tid}"
        assert actual[tid].frames == thread.frames, f"thread {tid}"
