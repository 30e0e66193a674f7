"""The model's objects (frozen values) and CoreInfo's reading of the signal notes."""

from __future__ import annotations

import copy
import inspect
import pickle
import signal

import pytest

from triage.model import (
    SI_TKILL,
    SI_USER,
    Analysis,
    CoreInfo,
    ExceptionInFlight,
    Frame,
    FrameKind,
    Source,
    Thread,
    replace,
    signal_name,
)

SI_KERNEL = 0x80
SEGV_MAPERR = 1


def test_signal_name_known_and_unknown() -> None:
    assert signal_name(11) == "SIGSEGV"
    assert signal_name(6) == "SIGABRT"
    assert signal_name(signal.SIGRTMIN + 3) == f"SIG{signal.SIGRTMIN + 3}"


@pytest.mark.parametrize("signo", [signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE])
def test_null_pointer_fault_is_a_fault(signo: int) -> None:
    core = CoreInfo(path="c", pid=1, signal=signo, si_code=SEGV_MAPERR, fault_address=0)
    assert core.is_fault
    assert core.sent_by is None


def test_kill_with_segv_is_not_a_fault() -> None:
    core = CoreInfo(path="c", pid=1, signal=11, si_code=SI_USER, fault_address=0, sender_pid=7)
    assert not core.is_fault
    assert core.sent_by == 7


def test_fault_needs_an_address() -> None:
    assert not CoreInfo(path="c", pid=1, signal=11, si_code=1, fault_address=None).is_fault


def test_fault_address_ignored_for_other_signals() -> None:
    assert not CoreInfo(path="c", pid=1, signal=6, si_code=1, fault_address=0x10).is_fault


@pytest.mark.parametrize(
    ("si_code", "expected"), [(SI_USER, 5), (SI_TKILL, 5), (SI_KERNEL, None), (-1, None)]
)
def test_sender_only_for_user_and_tkill(si_code: int, expected: int | None) -> None:
    core = CoreInfo(path="c", pid=1, signal=6, si_code=si_code, sender_pid=5)
    assert core.sent_by == expected


@pytest.mark.parametrize(
    ("signo", "crash"),
    [
        (0, False),
        (signal.SIGSTOP, False),
        (signal.SIGTSTP, False),
        (signal.SIGTTIN, False),
        (signal.SIGTTOU, False),
        (signal.SIGSEGV, True),
        (signal.SIGABRT, True),
        (signal.SIGTRAP, True),
    ],
)
def test_crash_versus_on_demand(signo: int, crash: bool) -> None:
    core = CoreInfo(path="c", pid=1, signal=signo, tids=(3, 1, 2))
    assert core.is_crash is crash
    assert core.crashed_tid == (3 if crash else None)


def test_crashed_tid_without_tids() -> None:
    assert CoreInfo(path="c", pid=1, signal=11).crashed_tid is None


def test_argv_from_psargs() -> None:
    assert CoreInfo(path="c", pid=1, psargs="python3 -c x ").argv == ("python3", "-c", "x")


def test_model_objects_are_frozen_values() -> None:
    frame = Frame(kind=FrameKind.PYTHON, function="f", file="a.py", line=1)
    with pytest.raises(AttributeError):
        frame.line = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        frame.extra = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        del frame.function
    moved = replace(frame, line=2)
    assert (moved.line, frame.line) == (2, 1)
    assert moved != frame and replace(moved, line=1) == frame
    assert hash(replace(moved, line=1)) == hash(frame)
    assert copy.deepcopy(frame) == frame == pickle.loads(pickle.dumps(frame))
    assert repr(frame).startswith("Frame(kind=<FrameKind.PYTHON: 'python'>, function='f',")
    with pytest.raises(TypeError):
        replace(frame, no_such_field=1)


def test_every_field_is_an_init_parameter_in_slot_order() -> None:
    """``replace`` and pickling rebuild through __init__ from the slots: they must agree."""
    for cls in (Frame, ExceptionInFlight, Thread, CoreInfo, Source, Analysis):
        parameters = list(inspect.signature(cls.__init__).parameters)[1:]
        assert parameters == list(cls.__slots__), cls.__name__
        assert set(cls.__slots__) == set(cls.__annotations__), cls.__name__


def test_analysis_helpers() -> None:
    threads = (Thread(tid=1), Thread(tid=2, crashed=True))
    analysis = Analysis(
        source=Source(kind="core", path="c"), python_version=(3, 9, 18), threads=threads
    )
    assert analysis.python_version_string == "3.9.18"
    assert analysis.crashed_thread is threads[1]
    assert Analysis(source=Source(kind="core", path="c")).python_version_string is None


def test_signal_names_written_out_match_this_platform() -> None:
    for number in range(1, signal.SIGRTMIN):
        try:
            expected = signal.Signals(number).name
        except ValueError:
            expected = f"SIG{number}"
        if expected in ("SIGIOT", "SIGPOLL", "SIGCLD"):  # aliases Python may pick
            expected = {"SIGIOT": "SIGABRT", "SIGPOLL": "SIGIO", "SIGCLD": "SIGCHLD"}[expected]
        assert signal_name(number) == expected, number


def test_signal_numbers_written_out_match_this_platform() -> None:
    import signal

    from triage.model import FAULT_SIGNALS, STOP_SIGNALS

    assert {signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE} == FAULT_SIGNALS
    assert {signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU} == STOP_SIGNALS
