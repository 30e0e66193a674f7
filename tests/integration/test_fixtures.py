"""Self-checks of the fixtures: every case is a real core with a consistent recorded truth.

These need neither triage nor PyStack, so they are the first thing to look at when a core test
fails: a red here means the fixture, not the analyzer, is wrong.
"""

from __future__ import annotations

from pathlib import Path

from coretest import elf
from coretest.cores import CoreCase
from coretest.scenarios import CRASH_LINE, PARK_LINE
from coretest.truth import Frame


def _source_line(frame: Frame) -> str:
    lines = Path(frame.file).read_text(encoding="utf-8").splitlines()
    return lines[frame.line - 1]


def test_core_is_an_elf_core_of_the_scenario(core_case: CoreCase) -> None:
    assert elf.elf_type(core_case.core) == elf.ET_CORE
    notes = elf.read_notes(core_case.core)
    truth = core_case.truth
    assert elf.process_id(notes) == truth.pid
    assert elf.parent_id(notes) == core_case.expected_ppid
    assert sorted(elf.thread_ids(notes)) == sorted(t.tid for t in truth.threads)
    if core_case.kernel:
        assert elf.thread_ids(notes)[0] == truth.crashed_thread.tid
        assert elf.signal_number(notes) == core_case.key.signal


def test_truth_is_recorded_at_the_crash_and_park_lines(core_case: CoreCase) -> None:
    truth = core_case.truth
    scenario = core_case.key.scenario
    assert truth.version == core_case.key.interpreter.version
    assert len(truth.threads) == scenario.threads
    crashed = truth.crashed_thread
    assert len(crashed.frames) >= scenario.min_frames
    assert crashed.frames[-1].function == scenario.expected_innermost(truth.version)
    assert CRASH_LINE in _source_line(crashed.frames[-1])
    for thread in truth.threads:
        if thread.tid == truth.pid:
            assert thread.frames[0].function == "<module>", thread
        if thread is not crashed:
            assert PARK_LINE.search(_source_line(thread.frames[-1])), thread


def test_truth_paths_carry_the_scenario_directory(core_case: CoreCase) -> None:
    directory = core_case.key.scenario.directory
    innermost = core_case.truth.crashed_thread.frames[-1]
    assert f"/{directory}/" in innermost.file
    assert Path(innermost.file).is_file()
