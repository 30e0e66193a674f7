"""The dict of triage._native (as its stub documents it) to dataclasses, and error mapping."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from triage import analysis as analysis_module
from triage.analysis import analysis_from_dict, analyze_core, frame_from_dict, thread_from_dict
from triage.errors import AnalysisFailed, InputError, TriageError
from triage.model import Frame


def test_conversion_of_the_documented_shape(core_dict: dict[str, Any]) -> None:
    result = analysis_from_dict(core_dict)
    assert result.source.kind == "core"
    assert result.source.path == "/spool/core.100"
    assert result.source.executable == "/usr/bin/python3.12"
    assert result.source.executable_from_core is True
    assert result.python_version == (3, 12, 1)
    assert result.core is not None
    assert result.core.tids == (100, 101)
    assert result.core.fault_address == 0x10
    assert [t.tid for t in result.threads] == [101, 100]
    worker, main = result.threads
    assert (worker.crashed, worker.gil, worker.gc) == (False, None, False)
    # gc=1 on the GIL holder: it is the collecting thread
    assert (main.crashed, main.gil, main.gc) == (True, "held", True)
    assert main.frames[0] == Frame(
        kind="python",
        function="<module>",
        file="/app/server.py",
        line=30,
        qualname="<module>",
        first_line=1,
        is_entry=True,
    )
    assert main.frames[1].line is None  # -1: unknown
    assert isinstance(result.threads, tuple) and isinstance(main.frames, tuple)


def test_no_crashed_thread_for_gcore(core_dict: dict[str, Any]) -> None:
    core_dict["core"].update(signal=19, si_code=0x80, fault_address=None)
    assert not any(t.crashed for t in analysis_from_dict(core_dict).threads)


def test_not_python(core_dict: dict[str, Any]) -> None:
    core_dict.update(python_version=None, python_error="no libpython", threads=[])
    result = analysis_from_dict(core_dict)
    assert result.python_version is None
    assert result.python_error == "no libpython"
    assert result.threads == ()


@pytest.mark.parametrize(
    ("gil", "gc", "expected"),
    [
        # The extension decides which thread collects; these are its codes, passed through.
        (1, 1, ("held", True)),
        (1, 0, ("held", False)),
        (0, 1, (None, True)),
        (0, 0, (None, False)),
        (2, 0, ("waiting", False)),
        (3, 1, ("dropping", True)),
        (1, -1, ("held", None)),
        (-1, -1, (None, None)),
    ],
)
def test_gil_and_gc_flags(gil: int, gc: int, expected: tuple[str | None, bool | None]) -> None:
    thread = thread_from_dict({"tid": 1, "gil": gil, "gc": gc, "frames": []})
    assert (thread.gil, thread.gc) == expected


def test_thread_warnings_and_truncation() -> None:
    thread = thread_from_dict(
        {"tid": 4, "gil": 0, "gc": 0, "frames": [], "truncated": True, "warnings": ["bad frame"]}
    )
    assert thread.truncated and thread.warnings == ("bad frame",)


def test_frame_line_zero_is_kept() -> None:
    frame = frame_from_dict({"file": "f", "function": "g", "line": 0, "first_line": -1})
    assert frame.line == 0 and frame.first_line is None


class _FakeNative(types.ModuleType):
    class CoreFileError(Exception):
        pass

    class AnalysisError(Exception):
        pass

    def __init__(self, outcome: Any) -> None:
        super().__init__("triage._native")
        self.outcome = outcome
        self.calls: list[tuple[Any, ...]] = []

    def analyze_core(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
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
    fake = _install(monkeypatch, core_dict)
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
