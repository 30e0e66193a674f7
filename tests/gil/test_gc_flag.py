""" "Garbage collecting" is shown for the thread that runs the collector, also on an interpreter
built without local symbols (Debian's /usr/bin/python3.x): there the collector's code is found
as the first call of the exported PyGC_Collect, bounded by its unwind table entry. The thread
sits in a finalizer that sleeps, so it does not hold the GIL and only the machine stack tells.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from gilkit import PROGRAMS
from nativekit.interpreters import Interpreter
from nativekit.processes import READY_FD, Reaper, gcore, kill, wait_all_sleeping
from nativekit.tools import Tools


def collecting(report: dict) -> set[int]:
    return {thread["tid"] for thread in report["threads"] if thread["gc"]}


def test_collector_thread_found(
    interpreter: Interpreter, reaper: Reaper, tools: Tools, lab: Path
) -> None:
    if interpreter.version < (3, 4):
        pytest.skip("finalizers of cycles run from 3.4 on")
    run_dir = lab / f"{interpreter.id}-gc"
    target = reaper.start_ready(
        [interpreter.path, str(PROGRAMS / "gc_sleeper.py"), READY_FD], run_dir
    )
    try:
        wait_all_sleeping(target.pid)
        live = tools.triage_json("remote", str(target.pid))
        core = gcore(target.pid, run_dir / "core")
        try:
            from_core = tools.triage_json("core", str(core))
        finally:
            core.unlink()
    finally:
        kill(target)
    for report in (live, from_core):
        main_tid = target.pid
        tids = collecting(report)
        assert len(tids) == 1 and main_tid not in tids, report["threads"]
