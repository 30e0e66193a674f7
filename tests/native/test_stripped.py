"""A copy of a pyenv interpreter and its libpython, both ``strip --strip-all``'ed, run with
LD_LIBRARY_PATH/PYTHONHOME: the Python stack is still complete, and ``--native`` still gives
native frames (``???`` where symbols are gone) without failing. Checked on a gcore of the
sleeping program (against the same program on the unstripped interpreter) and on the kernel
core of the C++ callback crash (the extension keeps its symbols)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from nativekit import interpreters
from nativekit.interpreters import Interpreter
from nativekit.labs import CrashCores, Sleeper, Sleepers
from nativekit.stacks import crashed_thread, describe, describe_threads, index_of_python
from nativekit.tools import Tools


@dataclass(frozen=True)
class Stripped:
    original: Interpreter
    directory: Path
    command: list[str]
    env: dict[str, str]


def _shared_pyenv(interpreter: Interpreter) -> tuple[Path, Path, Path] | None:
    """(prefix, executable, libpython) of a pyenv build linked with a shared libpython."""
    prefix = interpreters.pyenv_prefix(interpreter)
    if prefix is None:
        return None
    executable = Path(os.path.realpath(interpreter.path))
    libraries = sorted((prefix / "lib").glob("libpython*.so.1.0"))
    if not libraries:
        return None
    return prefix, executable, libraries[0]


@pytest.fixture(scope="session")
def stripped(lab: Path, current_interpreter: Interpreter) -> Stripped:
    strip = shutil.which("strip")
    if strip is None:
        pytest.skip("strip (binutils) is not installed")
    # The interpreter running the tests when it is a pyenv build, else the newest pyenv one.
    candidates = [current_interpreter, *reversed(interpreters.discover())]
    chosen = next((i for i in candidates if _shared_pyenv(i)), None)
    if chosen is None:
        pytest.skip("no pyenv interpreter with a shared libpython")
    found = _shared_pyenv(chosen)
    assert found is not None
    prefix, executable, libpython = found
    directory = lab / "stripped" / chosen.id
    directory.mkdir(parents=True)
    for source in (executable, libpython):
        shutil.copy2(source, directory / source.name)
        subprocess.run([strip, "--strip-all", str(directory / source.name)], check=True)
    env = {"LD_LIBRARY_PATH": str(directory), "PYTHONHOME": str(prefix)}
    return Stripped(chosen, directory, [str(directory / executable.name), "-S"], env)


def _check_stripped_libraries(stripped: Stripped, pid: int) -> None:
    """The target really runs the stripped copies (LD_LIBRARY_PATH beats the RUNPATH)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    libpython = [line.split()[-1] for line in maps.splitlines() if "libpython" in line]
    assert libpython and all(p.startswith(str(stripped.directory)) for p in libpython), libpython
    assert os.readlink(f"/proc/{pid}/exe").startswith(str(stripped.directory))


@pytest.fixture(scope="session")
def stripped_sleeper(stripped: Stripped, sleepers: Sleepers) -> Sleeper:
    sleeper = sleepers.get(
        stripped.original, python=stripped.command, env=stripped.env, variant="stripped"
    )
    _check_stripped_libraries(stripped, sleeper.target.pid)
    return sleeper


def python_stacks(document: dict[str, Any]) -> list[list[tuple[str, str, int]]]:
    """Every thread's Python frames (function, file, line), sorted: tids differ between runs."""
    return sorted(
        [(f["function"], f["file"], f["line"]) for f in t["frames"] if f["kind"] == "python"]
        for t in document["threads"]
    )


def test_python_stack_complete(
    stripped: Stripped, stripped_sleeper: Sleeper, sleepers: Sleepers, tools: Tools
) -> None:
    """The same Python frames as the same program on the unstripped interpreter."""
    reference = tools.triage_core_json(sleepers.get(stripped.original).core)
    document = tools.triage_core_json(stripped_sleeper.core)
    assert len(document["threads"]) == 3, describe_threads(document)
    assert python_stacks(document) == python_stacks(reference), describe_threads(document)


def test_native_mode_still_works(stripped_sleeper: Sleeper, tools: Tools) -> None:
    python_only = tools.triage_core_json(stripped_sleeper.core)
    document = tools.triage_core_json(stripped_sleeper.core, "--native")
    assert python_stacks(document) == python_stacks(python_only), describe_threads(document)
    for thread in document["threads"]:
        native = [f for f in thread["frames"] if f["kind"] == "native"]
        assert native, describe(thread["frames"])
        for frame in native:
            assert frame["function"] and frame["library"], frame
        # the sleep itself is in libc, which is not stripped
        assert any("sleep" in f["function"] for f in native), describe(thread["frames"])


def test_crash_in_extension_on_stripped_interpreter(
    stripped: Stripped, crash_cores: CrashCores, tools: Tools
) -> None:
    core = crash_cores.get(
        stripped.original, "segv", python=stripped.command, env=stripped.env, variant="stripped"
    )
    document = tools.triage_core_json(core, "--native")
    frames = crashed_thread(document)["frames"]
    python = [f["function"] for f in frames if f["kind"] == "python"]
    assert python == ["<module>", "main", "enter_extension", "the_callback", "deeper_callback"]
    widget = [i for i, f in enumerate(frames) if f["function"].startswith("outer::inner::Widget")]
    assert widget, describe(frames)
    assert index_of_python(frames, "enter_extension") < widget[0], describe(frames)
    assert widget[-1] < index_of_python(frames, "the_callback"), describe(frames)
    assert frames[-1]["function"] == "outer::detail::write_through(int volatile*, int)"
