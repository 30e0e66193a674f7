"""triage's text output against PyStack 1.7.2 (the oracle) and against the recorded truth.

PyStack is trusted only where it is known right: scenarios with non-ASCII names or paths and
the 12,000-frame recursion are excluded from ``oracle_key`` (see coretest/scenarios.py) and are
checked against the truth only. ``zombie:`` is never compared: PyStack always prints True.
"""

from __future__ import annotations

import signal

import pytest
from coretest.cores import CoreCase
from coretest.reports import TextReport, parse_text, threads_difference, truth_threads
from coretest.tools import Tools, pystack_available

needs_pystack = pytest.mark.skipif(not pystack_available(), reason="pystack is not installed")


def _pystack_report(case: CoreCase, tools: Tools) -> TextReport:
    result = tools.pystack(case.core)
    assert result.returncode == 0, result.describe()
    return parse_text(result.stdout.decode("utf-8", errors="replace"))


def _triage_report(case: CoreCase, tools: Tools) -> TextReport:
    result = tools.triage_text(case.core)
    assert result.returncode == 0, result.describe()
    assert "Traceback (most recent call last)" not in result.err
    return parse_text(result.out)


@needs_pystack
def test_pystack_agrees_with_truth(oracle_case: CoreCase, tools: Tools) -> None:
    """Validates the oracle (and the recorded truth) before it is used to judge triage."""
    report = _pystack_report(oracle_case, tools)
    problems = threads_difference(report.threads, truth_threads(oracle_case.truth), "pystack")
    assert not problems, "\n".join(problems)
    assert report.gil_holders == oracle_case.expected_gil_holders


@needs_pystack
def test_text_frames_match_pystack(oracle_case: CoreCase, tools: Tools) -> None:
    expected = _pystack_report(oracle_case, tools).threads
    actual = _triage_report(oracle_case, tools).threads
    problems = threads_difference(actual, expected, "triage text vs pystack")
    assert not problems, "\n".join(problems)


def test_text_frames_match_truth(core_case: CoreCase, tools: Tools) -> None:
    actual = _triage_report(core_case, tools).threads
    problems = threads_difference(actual, truth_threads(core_case.truth), "triage text")
    assert not problems, "\n".join(problems)


@needs_pystack
def test_text_header_matches_pystack(oracle_case: CoreCase, tools: Tools) -> None:
    ours = _triage_report(oracle_case, tools)
    theirs = _pystack_report(oracle_case, tools)
    # zombie: PyStack 1.7.2 prints True for every core (bool of a one-element list).
    ignore = {"zombie"}
    assert {k: v for k, v in ours.header.items() if k not in ignore} == {
        k: v for k, v in theirs.header.items() if k not in ignore
    }
    if theirs.signal_line == "The process died due receiving signal SIGSEGV":
        # A NULL dereference: PyStack 1.7.2 only names the address when it is not 0; we report
        # the fault at 0x0, which is what happened (si_code says the CPU faulted).
        assert ours.signal_line == (
            "The process died due a segmentation fault accessing address: 0x0"
        )
    else:
        assert ours.signal_line == theirs.signal_line
    if ours.using_executable is not None:
        assert ours.using_executable == theirs.using_executable
    assert sorted(ours.threads) == sorted(theirs.threads)
    assert ours.gil_holders == theirs.gil_holders


def test_text_header_matches_truth(core_case: CoreCase, tools: Tools) -> None:
    header = _triage_report(core_case, tools)
    truth = core_case.truth
    assert header.header.get("pid") == str(truth.pid)
    assert header.header.get("ppid") == str(core_case.expected_ppid)
    assert header.header.get("zombie") == "False"
    if core_case.kernel:
        number = core_case.key.signal
        assert number is not None
        name = signal.Signals(number).name
        assert header.signal_line is not None
        assert name in header.signal_line or "segmentation fault" in header.signal_line
