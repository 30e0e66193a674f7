"""Unusable input: documented exit code, exactly one line on stderr, never a traceback.

The documented exit codes: 1 when the analysis failed (not a Python process, corrupt beyond
use), 3 when the input is not usable (no such file, not an ELF core, truncated headers).
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from coretest import elf
from coretest.cores import CoreFactory, GcoreMissing, make_native_core
from coretest.interpreters import Interpreter
from coretest.scenarios import CoreKey, scenario
from coretest.tools import ToolResult, Tools

NOT_USABLE = 3
ANALYSIS_FAILED = 1
OUTPUTS = {"text": ("--no-color",), "json": ("--json",)}


@pytest.fixture(scope="session")
def sample_core(core_factory: CoreFactory, current_interpreter: Interpreter) -> Path:
    """A small kernel core (nested scenario, SIGABRT) of the interpreter running the tests."""
    key = CoreKey(current_interpreter, scenario("nested"), "abort")
    try:
        return core_factory.get(key).core
    except GcoreMissing as error:
        pytest.skip(str(error))


@pytest.fixture(scope="session")
def sleep_core(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("sleep") is None:
        pytest.skip("no sleep program")
    try:
        return make_native_core(["sleep", "600"], tmp_path_factory.mktemp("sleepcore"))
    except GcoreMissing as error:
        pytest.skip(str(error))


def _truncated(core: Path, target: Path, size: Callable[[elf.ElfFile, int], int]) -> Path:
    layout = elf.read_elf(core)
    with open(core, "rb") as stream:
        target.write_bytes(stream.read(size(layout, core.stat().st_size)))
    return target


def _mid_program_headers(layout: elf.ElfFile, _size: int) -> int:
    return layout.phoff + layout.phnum * layout.phentsize // 2


def _mid_notes(layout: elf.ElfFile, _size: int) -> int:
    notes = layout.notes[0]
    return notes.offset + notes.filesz // 2


def _end_of_notes(layout: elf.ElfFile) -> int:
    return max(s.offset + s.filesz for s in layout.notes)


def _make_input(kind: str, tmp_path: Path, sample_core: Path) -> Path:
    target = tmp_path / f"input-{kind}"
    if kind == "empty":
        target.write_bytes(b"")
    elif kind == "random":
        target.write_bytes(random.Random(1234).randbytes(64 * 1024))
    elif kind == "elf-executable":
        shutil.copyfile(shutil.which("true") or "/bin/true", target)
    elif kind == "directory":
        target.mkdir()
    elif kind == "truncated-64":
        _truncated(sample_core, target, lambda _layout, _size: 64)
    elif kind == "truncated-mid-phdrs":
        _truncated(sample_core, target, _mid_program_headers)
    elif kind == "truncated-mid-notes":
        _truncated(sample_core, target, _mid_notes)
    elif kind != "missing":
        raise AssertionError(kind)
    return target


def _check_failure(result: ToolResult, allowed: set[int]) -> None:
    assert result.returncode in allowed, result.describe()
    assert len(result.err.splitlines()) == 1, result.describe()
    assert "Traceback" not in result.err + result.stdout.decode(errors="replace")


# kind of input -> the exit codes the documentation allows for it
UNUSABLE = {
    "empty": {NOT_USABLE},
    "random": {NOT_USABLE},
    "elf-executable": {NOT_USABLE},
    "missing": {NOT_USABLE},
    "directory": {NOT_USABLE},
    "truncated-64": {NOT_USABLE},
    "truncated-mid-phdrs": {NOT_USABLE},
    # The notes are cut: "truncated headers" (3) or "corrupt beyond use" (1).
    "truncated-mid-notes": {NOT_USABLE, ANALYSIS_FAILED},
}


@pytest.mark.parametrize("output", sorted(OUTPUTS))
@pytest.mark.parametrize("kind", list(UNUSABLE))
def test_unusable_input(
    kind: str, output: str, tmp_path: Path, sample_core: Path, tools: Tools
) -> None:
    path = _make_input(kind, tmp_path, sample_core)
    _check_failure(tools.triage("core", str(path), *OUTPUTS[output]), UNUSABLE[kind])


@pytest.mark.parametrize("output", sorted(OUTPUTS))
def test_core_of_a_program_that_is_not_python(output: str, sleep_core: Path, tools: Tools) -> None:
    _check_failure(tools.triage("core", str(sleep_core), *OUTPUTS[output]), {ANALYSIS_FAILED})


def test_core_truncated_after_the_notes(tmp_path: Path, sample_core: Path, tools: Tools) -> None:
    """Half a core: a partial answer with a warning (exit 0), or a clean failure (exit 1)."""
    layout = elf.read_elf(sample_core)
    half = max(sample_core.stat().st_size // 2, _end_of_notes(layout) + 1)
    path = _truncated(sample_core, tmp_path / "half-core", lambda _layout, _size: half)
    result = tools.triage("core", str(path), "--json")
    assert result.returncode in {0, ANALYSIS_FAILED}, result.describe()
    assert "Traceback" not in result.err + result.stdout.decode(errors="replace")
    if result.returncode == ANALYSIS_FAILED:
        assert len(result.err.splitlines()) == 1, result.describe()
        return
    report = json.loads(result.stdout)
    assert report["schema"] == 1
    assert report["warnings"], "a truncated core must be reported with a warning"
