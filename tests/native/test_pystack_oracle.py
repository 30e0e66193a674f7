"""PyStack 1.7.2 as the oracle of native mode: on every installed interpreter, for a sleeping
threaded program, both as a gcore core and as a live process, the frames of every thread in
``triage ... --native`` are PyStack's ``... --native`` ones: the same native function names
(``(inlined)`` marks included) with the Python frames at the same places.

Accepted differences: PyStack prints ``zombie: True`` for every core (the header is not
compared here), full library paths for live processes (libraries are compared by basename), and
for live processes a frame without symbol has the library's full path as its file (compared by
basename too).
"""

from __future__ import annotations

import pytest
from nativekit.interpreters import Interpreter
from nativekit.labs import Sleepers
from nativekit.processes import wait_all_sleeping
from nativekit.tools import TextThread, ToolResult, Tools, parse_threads, pystack_command

pytestmark = pytest.mark.skipif(pystack_command() is None, reason="pystack is not installed")

SOURCES = ["core", "remote"]


Outputs = dict[tuple[str, str], tuple[ToolResult, ToolResult]]


@pytest.fixture(scope="session")
def outputs() -> Outputs:
    """Both tools' reports per (interpreter, source), each made once per session."""
    return {}


def reports(
    interpreter: Interpreter, source: str, sleepers: Sleepers, tools: Tools, outputs: Outputs
) -> tuple[dict[int, TextThread], dict[int, TextThread]]:
    key = (interpreter.id, source)
    if key not in outputs:
        outputs[key] = run_both(interpreter, source, sleepers, tools)
    ours, theirs = outputs[key]
    return threads_of(ours), threads_of(theirs)


def run_both(
    interpreter: Interpreter, source: str, sleepers: Sleepers, tools: Tools
) -> tuple[ToolResult, ToolResult]:
    sleeper = sleepers.get(interpreter)
    if source == "core":
        ours = tools.triage_core(sleeper.core, "--native", "--no-color")
        theirs = tools.pystack_core(sleeper.core, "--native")
    else:
        pid = str(sleeper.target.pid)
        wait_all_sleeping(sleeper.target.pid)
        ours = tools.triage("remote", pid, "--native", "--no-color")
        wait_all_sleeping(sleeper.target.pid)
        theirs = tools.pystack("remote", pid, "--native")
    assert ours.returncode == 0, ours.describe()
    assert theirs.returncode == 0, theirs.describe()
    return ours, theirs


def threads_of(result: ToolResult) -> dict[int, TextThread]:
    threads = parse_threads(result.stdout)
    assert threads, result.describe()
    return threads


@pytest.mark.parametrize("source", SOURCES)
def test_native_functions_match_pystack(
    interpreter: Interpreter, source: str, sleepers: Sleepers, tools: Tools, outputs: Outputs
) -> None:
    ours, theirs = reports(interpreter, source, sleepers, tools, outputs)
    assert sorted(ours) == sorted(theirs)
    for tid, thread in theirs.items():
        assert ours[tid].functions() == thread.functions(), f"thread {tid}"
    # Not vacuous: three threads, each with native frames below its Python ones.
    assert len(ours) == 3
    for thread in ours.values():
        functions = thread.functions()
        assert "(Python) doze" in functions, functions
        assert functions[-1].startswith("(C) "), functions
        assert functions.index("(Python) doze") > 0, functions


@pytest.mark.parametrize("source", SOURCES)
def test_frame_details_match_pystack(
    interpreter: Interpreter, source: str, sleepers: Sleepers, tools: Tools, outputs: Outputs
) -> None:
    """Files, lines, libraries and thread status too."""
    ours, theirs = reports(interpreter, source, sleepers, tools, outputs)
    for tid, thread in theirs.items():
        assert ours[tid].status == thread.status, f"thread {tid}"
        assert ours[tid].frames == thread.frames, f"thread {tid}"
