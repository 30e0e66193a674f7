"""threading's name of each thread, read from the target's memory, against the names the
program itself recorded (scenarios/thread_names.py): a kernel core at a SIGSEGV inside a ctypes
call, a gcore of the parked program, and the live program, on every local interpreter.

The program has the main thread, a thread with a chosen (non-ASCII on 3.x) name, one with
threading's default name, one parked in a ctypes call, one started by _thread that threading
never saw (no name) and one that made itself a _DummyThread.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
from pathlib import Path

import pytest
from coretest import elf, interpreters
from coretest.cores import CoreCase, CoreFactory, GcoreMissing, stage_scripts
from coretest.processes import READY_FD, spawn, wait_all_sleeping, wait_ready
from coretest.scenarios import CoreKey, Scenario
from coretest.tools import Tools
from coretest.truth import Truth, load_truth

SCENARIO = Scenario("thread_names", "thread_names.py", "crasher", min_frames=1, threads=6)
SELECTED = interpreters.selected()
IDS = [i.id for i in SELECTED]
HEADER = re.compile(r'^Traceback for thread (\d+) (?:\([^)]*\) )?\[[^\]]*\](?: "(.*)")? \(most')


def expected_names(truth: Truth) -> dict[int | None, str | None]:
    names = {t.tid: t.name for t in truth.threads}
    assert len(names) == SCENARIO.threads, truth
    assert "MainThread" in names.values() and None in names.values(), truth
    assert any(name and name.startswith("Dummy-") for name in names.values()), truth
    return names


def python_names(document: dict) -> dict[int | None, str | None]:
    return {t["tid"]: t.get("python_name") for t in document["threads"]}


def core_case(factory: CoreFactory, interpreter: interpreters.Interpreter, mode: str) -> CoreCase:
    try:
        return factory.get(CoreKey(interpreter, SCENARIO, mode))
    except GcoreMissing as error:
        pytest.skip(str(error))


@pytest.mark.parametrize("mode", ["segv", "gcore"])
@pytest.mark.parametrize("interpreter", SELECTED, ids=IDS)
def test_names_in_cores(
    core_factory: CoreFactory, tools: Tools, interpreter: interpreters.Interpreter, mode: str
) -> None:
    case = core_case(core_factory, interpreter, mode)
    expected = expected_names(case.truth)
    document = tools.triage_json(case.core)
    assert python_names(document) == expected
    assert not [w for w in document["warnings"] if "threading" in w]
    # The text output: PyStack's header up to the status, then the name, quoted.
    text = tools.triage_text(case.core)
    assert text.returncode == 0, text.describe()
    shown = {int(m[1]): m[2] for m in map(HEADER.match, text.out.splitlines()) if m}
    assert shown == {tid: name for tid, name in expected.items() if '"' not in (name or "")}


@pytest.mark.parametrize("interpreter", SELECTED, ids=IDS)
def test_names_live(interpreter: interpreters.Interpreter, tools: Tools, tmp_path: Path) -> None:
    scripts = stage_scripts(tmp_path / "scripts")
    script = scripts / SCENARIO.directory / SCENARIO.script
    truth_path = tmp_path / "truth.json"
    argv = [interpreter.path, "-E", "-S", "-B", str(script), "wait", str(truth_path), READY_FD]
    with spawn(argv, cwd=tmp_path) as spawned:
        wait_ready(spawned)
        wait_all_sleeping(spawned.pid)
        result = tools.triage("remote", str(spawned.pid), "--json")
        assert result.returncode == 0, result.describe()
        assert spawned.process.poll() is None, "the target must keep running"
    document = json.loads(result.stdout)
    assert python_names(document) == expected_names(load_truth(truth_path))


# --- corrupted memory: the names' objects patched in a copy of a gcore ---


class PatchedCore:
    """One copy of a core (they are large) whose 8-byte words are patched, then put back."""

    def __init__(self, core: Path, copy: Path) -> None:
        self.path = copy
        self._segments = [s for s in elf.read_elf(core).segments if s.type == elf.PT_LOAD]
        shutil.copyfile(core, copy)

    def _offset(self, address: int) -> int:
        segment = next(s for s in self._segments if s.vaddr <= address < s.vaddr + s.filesz)
        return segment.offset + address - segment.vaddr

    def write(self, patches: dict[int, int]) -> dict[int, int]:
        """Patch the words at the given addresses; returns the words they held."""
        old = {}
        with open(self.path, "r+b") as out:
            for address, value in patches.items():
                out.seek(self._offset(address))
                old[address] = struct.unpack("<Q", out.read(8))[0]
                out.seek(self._offset(address))
                out.write(struct.pack("<Q", value))
        return old


@pytest.mark.parametrize("interpreter", SELECTED, ids=IDS)
def test_corrupted_names_give_no_name(
    core_factory: CoreFactory, tools: Tools, interpreter: interpreters.Interpreter, tmp_path: Path
) -> None:
    case = core_case(core_factory, interpreter, "gcore")
    expected = expected_names(case.truth)
    where = json.loads((case.run_dir / "truth.json.addresses").read_text())
    user = next(t.tid for t in case.truth.threads if t.name and t.name.startswith("w"))
    dict_keys = 32  # PyDictObject: ma_keys (2.7: ma_mask), then ma_values (2.7: ma_table)
    core = PatchedCore(case.core, tmp_path / "core")

    def analyze(patches: dict[int, int]) -> dict:
        old = core.write(patches)
        try:
            # With an environment, the tool runs again (it caches runs by command line).
            result = tools.triage("core", str(core.path), "--json", env=dict(os.environ))
        finally:
            core.write(old)
        assert result.returncode == 0, result.describe()
        document = json.loads(result.stdout)
        assert python_names(document).keys() == expected.keys()  # the stacks are all there
        return document

    try:
        # A name that is not a str (now an int): that thread has none, the others keep theirs.
        document = analyze({where["user_name"] + 8: where["int_type"]})
        assert python_names(document) == {**expected, user: None}
        # _active's or sys.modules' table unreadable or absurd: no names, one warning.
        for patches in (
            {where["active"] + dict_keys: 0xFFFF_FFFF_FFFF},
            {where["modules"] + dict_keys: 0xFFFF_FFFF_FFFF},
        ):
            document = analyze(patches)
            assert set(python_names(document).values()) == {None}, patches
            assert [w for w in document["warnings"] if "threading" in w], patches
        # _active's values (2.7: its table) pointing back at the dict: garbage, never a wrong
        # name.
        document = analyze({where["active"] + dict_keys + 8: where["active"]})
        assert all(n is None or n == expected[t] for t, n in python_names(document).items())
        # Put back, the copy reads as the core.
        assert python_names(analyze({})) == expected
    finally:
        core.path.unlink()
