"""Sub-interpreters with --native: one OS thread with a thread state in the main interpreter and
one in a sub-interpreter has one native stack, split at the eval loop that runs the
sub-interpreter. Checked line for line against PyStack, live and on a gcore, where the
interpreter has a sub-interpreter module (3.11 on Debian, 3.12, 3.13); without --native, the
main interpreter's thread state still comes first, as PyStack prints it.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from gilkit import PROGRAMS
from nativekit.interpreters import Interpreter
from nativekit.processes import READY_FD, Reaper, gcore, kill, wait_all_sleeping
from nativekit.tools import ToolResult, Tools, pystack_command

# PyStack names the thread (from /proc, live) and prints full library paths live; those are
# compared elsewhere.
_NAME = re.compile(r"^(Traceback for thread \d+) \([^)]*\) ")
_LIBRARY = re.compile(r" \((/[^()]*/)([^/()]+)\)$")
# threading's name of a thread, quoted after the status (on the interpreter's line when several
# interpreters are shown): PyStack has none; test_python_names_per_interpreter checks ours.
_PYTHON_NAME = re.compile(
    r"^((?:Traceback for thread \d+|  In the main interpreter|  In interpreter \d+"
    r'|  Not currently attached to any interpreter) \[[^\]]*\]) "(?:[^"\\]|\\.)*"'
)
# Frames without a symbol: PyStack names the file by its full path live.
_UNKNOWN_FILE = re.compile(r'File "/[^"]*/([^/"]+)", line 0, in \?\?\?')


def normalized(result: ToolResult) -> list[str]:
    """The threads of a report (the core's header is compared by other tests)."""
    assert result.returncode == 0, result.describe()
    lines: list[str] = []
    for line in result.stdout.splitlines():
        if not lines and not line.startswith("Traceback for thread"):
            continue
        line = _NAME.sub(r"\1 ", line)
        line = _PYTHON_NAME.sub(r"\1", line)
        line = _LIBRARY.sub(r" (\2)", line)
        line = _UNKNOWN_FILE.sub(r'File "\1", line 0, in ???', line)
        lines.append(line)
    return lines


def has_subinterpreters(interpreter: Interpreter) -> bool:
    code = "try:\n import _interpreters\nexcept ImportError:\n import _xxsubinterpreters"
    probe = subprocess.run([interpreter.path, "-c", code], capture_output=True, timeout=60)
    return interpreter.version >= (3, 11) and probe.returncode == 0


@pytest.fixture
def target_pid(interpreter: Interpreter, reaper: Reaper, lab: Path):
    if pystack_command() is None:
        pytest.skip("PyStack is not installed")
    if not has_subinterpreters(interpreter):
        pytest.skip(f"{interpreter.id} has no sub-interpreter module")
    run_dir = lab / f"{interpreter.id}-subinterpreters"
    argv = [interpreter.path, str(PROGRAMS / "subinterpreters.py"), READY_FD]
    target = reaper.start_ready(argv, run_dir)
    wait_all_sleeping(target.pid)
    try:
        yield target.pid, run_dir
    finally:
        kill(target)


def headers(lines: list[str]) -> list[str]:
    return [line.strip() for line in lines if line.startswith(("Traceback", "  In "))]


@pytest.mark.parametrize("flags", [("--native",), ()], ids=["native", "plain"])
def test_subinterpreters_like_pystack(
    target_pid: tuple[int, Path], flags: tuple[str, ...], tools: Tools
) -> None:
    pid, run_dir = target_pid
    ours = normalized(tools.triage("remote", str(pid), *flags))
    theirs = normalized(tools.pystack("remote", str(pid), *flags))
    assert ours == theirs
    assert "In interpreter 1 []" in headers(ours)
    core = gcore(pid, run_dir / "core")
    try:
        ours = normalized(tools.triage("core", str(core), *flags))
        theirs = normalized(tools.pystack("core", str(core), *flags))
    finally:
        core.unlink()
    assert ours == theirs
    main_first = headers(ours)
    assert main_first.index("In the main interpreter []") < main_first.index("In interpreter 1 []")


def test_python_names_per_interpreter(target_pid: tuple[int, Path], tools: Tools) -> None:
    """Each interpreter's own threading names the threads: the main one its main thread and
    the worker; the sub-interpreter, on the worker's OS thread, has none when threading is not
    loaded there (3.12+) and "MainThread" when it is (on 3.11 it is, although the code never
    imports it: the thread that loaded it is that interpreter's main thread)."""
    pid, _ = target_pid
    result = tools.triage("remote", str(pid), "--json")
    assert result.returncode == 0, result.describe()
    threads = json.loads(result.stdout)["threads"]
    main = sorted(t.get("python_name") or "" for t in threads if t["interpreter_id"] == 0)
    sub = [t.get("python_name") for t in threads if t["interpreter_id"] != 0]
    assert main == ["MainThread", "Thread-1 (worker)"], threads
    assert len(sub) == 1 and sub[0] in (None, "MainThread"), threads
