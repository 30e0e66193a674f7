"""Finishing the extension's model (crashed thread, native merge) and error mapping."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest
from coretest.models import model_of

from triage import analysis as analysis_module
from triage.analysis import analyze_core, finish_thread
from triage.errors import AnalysisFailed, InputError, TriageError
from triage.model import Frame, FrameKind, GilState, SourceKind, Thread


def test_finish_marks_the_crashed_thread(core_dict: dict[str, Any]) -> None:
    result = model_of(core_dict)
    assert result.source.kind is SourceKind.CORE
    assert result.python_version == (3, 12, 1)
    assert result.core is not None and result.core.tids == (100, 101)
    worker, main = result.threads
    assert (worker.crashed, worker.gil, worker.gc) == (False, None, False)
    assert (main.crashed, main.gil, main.gc) == (True, GilState.HELD, True)
    assert main.frames[1].line is None  # -1: unknown
    assert all(t.native_frames == () for t in result.threads)


def test_no_crashed_thread_for_gcore(core_dict: dict[str, Any]) -> None:
    core_dict["core"].update(signal=19, si_code=0x80, fault_address=None)
    analysis = model_of(core_dict)
    assert not any(t.crashed for t in analysis.threads)
    assert analysis.is_snapshot


def test_not_python(core_dict: dict[str, Any]) -> None:
    core_dict.update(python_version=None, python_error="no libpython", threads=[])
    result = model_of(core_dict)
    assert result.python_version is None
    assert result.python_error == "no libpython"
    assert result.threads == ()


def _native(name: str) -> Frame:
    return Frame(kind=FrameKind.NATIVE, function=name, file=None, line=None)


@pytest.mark.parametrize(
    ("names", "gc"),
    [
        # The GIL state is the analyzer's (confirmed by a real unwind): frames never change it.
        (["start_thread", "take_gil.lto_priv.0", "pthread_cond_timedwait"], None),
        (["start_thread", "gc_collect_main", "visit"], True),
        (["start_thread", "select"], None),
    ],
)
def test_native_frames_say_gc(names: list[str], gc: bool | None) -> None:
    thread = Thread(1, (), python=False, native_frames=tuple(_native(n) for n in names))
    finished = finish_thread(thread, None, "all", (3, 12, 1))
    assert (finished.gil, finished.gc) == (None, gc)
    assert [f.function for f in finished.frames] == names and finished.native_frames == ()


class _FakeNative(types.ModuleType):
    class CoreFileError(Exception):
        pass

    class AnalysisError(Exception):
        pass

    def __init__(self, outcome: Any) -> None:
        super().__init__("triage._native")
        self.outcome = outcome
        self.calls: list[tuple[Any, ...]] = []

    def analyze_core(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(args)
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


def _install(monkeypatch: pytest.MonkeyPatch, outcome: Any) -> _FakeNative:
    fake = _FakeNative(outcome)
    monkeypatch.setitem(sys.modules, "triage._native", fake)
    monkeypatch.setattr(sys.modules["triage"], "_native", fake, raising=False)
    return fake


def test_analyze_core_passes_arguments(
    monkeypatch: pytest.MonkeyPatch, core_dict: dict[str, Any]
) -> None:
    fake = _install(monkeypatch, model_of(core_dict))
    result = analyze_core("/c", "/usr/bin/python3", ["/a", "/b"], None)
    assert fake.calls == [("/c", "/usr/bin/python3", ["/a", "/b"], None)]
    assert result.python_version == (3, 12, 1)
    analyze_core("/c", lib_search_path="/x::/y")  # type: ignore[arg-type]
    assert fake.calls[1] == ("/c", None, ["/x", "/y"], None)


@pytest.mark.parametrize(
    ("error", "expected", "code"),
    [
        (_FakeNative.CoreFileError("not an ELF file"), InputError, 3),
        (_FakeNative.AnalysisError("truncated"), AnalysisFailed, 1),
        (PermissionError(13, "Permission denied"), InputError, 3),
    ],
)
def test_analyze_core_translates_errors(
    monkeypatch: pytest.MonkeyPatch, error: Exception, expected: type, code: int
) -> None:
    _install(monkeypatch, error)
    with pytest.raises(expected) as info:
        analyze_core("/c")
    assert info.value.exit_code == code
    assert info.value.message.startswith("/c: ")


def test_error_message_names_the_core_once(monkeypatch: pytest.MonkeyPatch) -> None:
    _install(monkeypatch, _FakeNative.CoreFileError("/c is not an ELF core file"))
    with pytest.raises(InputError, match=r"^/c is not an ELF core file$"):
        analyze_core("/c")


def test_analyze_core_without_extension(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "triage._native", None)  # makes the import fail
    monkeypatch.delattr(sys.modules["triage"], "_native", raising=False)
    with pytest.raises(TriageError, match="native extension") as info:
        analyze_core("/c")
    assert info.value.exit_code == 1 and info.value.help == analysis_module.NATIVE_MISSING_HELP
