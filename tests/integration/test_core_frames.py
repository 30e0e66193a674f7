"""``triage core CORE --json`` against the stacks the scenarios recorded about themselves."""

from __future__ import annotations

import signal
from typing import Any

from coretest.cores import CoreCase
from coretest.reports import json_threads, threads_difference, truth_threads
from coretest.tools import Tools


def _by_tid(report: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {thread["tid"]: thread for thread in report["threads"]}


def test_json_frames_match_truth(core_case: CoreCase, tools: Tools) -> None:
    report = tools.triage_json(core_case.core)
    problems = threads_difference(
        json_threads(report), truth_threads(core_case.truth), "triage --json"
    )
    assert not problems, "\n".join(problems)


def test_json_process_matches_truth(core_case: CoreCase, tools: Tools) -> None:
    report = tools.triage_json(core_case.core)
    truth = core_case.truth
    assert report["schema"] == 1
    assert report["source"]["kind"] == "core"
    process = report["process"]
    assert (process["pid"], process["ppid"]) == (truth.pid, core_case.expected_ppid)
    assert process["python_version"] == ".".join(map(str, truth.version))
    if core_case.kernel:
        number = core_case.key.signal
        assert number is not None
        expected = {"number": int(number), "name": signal.Signals(number).name}
        assert {k: process["signal"][k] for k in expected} == expected


def test_json_marks_the_crashed_thread(crash_case: CoreCase, tools: Tools) -> None:
    threads = _by_tid(tools.triage_json(crash_case.core))
    crashed = {tid for tid, thread in threads.items() if thread["crashed"]}
    assert crashed == {crash_case.truth.crashed_thread.tid}


def test_json_gil_holder(core_case: CoreCase, tools: Tools) -> None:
    threads = _by_tid(tools.triage_json(core_case.core))
    holders = {tid for tid, thread in threads.items() if thread["gil"] == "held"}
    assert holders == core_case.expected_gil_holders


def test_version_found_again_in_one_process(crash_case: CoreCase) -> None:
    """A pipeline worker reads many cores of one build. 2.7 to 3.10 keep the version text in
    .bss, and the next analysis of a build reads first where the last one found it: that read
    must give the same version. (A hint that does not parse falls back to the scan, which this
    cannot tell apart; the saving itself was measured with callgrind.)"""
    from triage import _native

    expected = tuple(crash_case.truth.version)
    for _ in range(2):
        assert tuple(_native.analyze_core(str(crash_case.core)).python_version) == expected
