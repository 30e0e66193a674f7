"""Merging native and Python frames into one stack (PyStack's algorithm, checked by hand)."""

from __future__ import annotations

from triage.model import Frame, FrameKind
from triage.native_merge import can_merge, classify, merge, merge_partial
from triage.stack import base_name, collecting_from_native

V312 = (3, 12, 1)


def py(name: str, entry: bool) -> Frame:
    return Frame(kind=FrameKind.PYTHON, function=name, file="app.py", line=1, is_entry=entry)


def c(name: str) -> Frame:
    return Frame(kind=FrameKind.NATIVE, function=name, file=None, line=None, library="lib.so")


def names(frames: list[Frame]) -> list[str]:
    return [f"{'py' if f.kind == 'python' else 'c'}:{f.function}" for f in frames]


def test_classify_eval_plumbing_and_other() -> None:
    assert classify("_PyEval_EvalFrameDefault", V312) == "eval"
    assert classify("_PyEval_EvalFrameDefault.cold", V312) == "eval"
    assert classify("PyEval_EvalFrameEx", (2, 7, 18)) == "eval"
    assert classify("_PyFunction_Vectorcall", V312) == "ignore"
    assert classify("cfunction_vectorcall_O", V312) == "ignore"
    assert classify("cfunction_vectorcall_O", (3, 7, 0)) == "other"
    assert classify("PyObject_Call", (2, 7, 18)) == "ignore"
    assert classify("time_sleep", V312) == "other"


def test_merge_replaces_each_eval_activation_with_its_python_frames() -> None:
    python = [py("main", True), py("helper", False), py("callback", True)]
    native = [
        c("main"),
        c("_PyEval_EvalFrameDefault"),
        c("_PyObject_Call"),
        c("builtin_sorted"),
        c("_PyEval_EvalFrameDefault"),
        c("time_sleep"),
    ]
    assert can_merge(python, native, V312)
    assert names(merge(python, native, V312)) == [
        "c:main",
        "py:main",
        "py:helper",
        "c:builtin_sorted",
        "py:callback",
        "c:time_sleep",
    ]


def test_native_last_keeps_only_native_frames_after_the_last_python_frame() -> None:
    python = [py("main", True), py("callback", True)]
    native = [
        c("main"),
        c("_PyEval_EvalFrameDefault"),
        c("builtin_sorted"),
        c("_PyEval_EvalFrameDefault"),
        c("time_sleep"),
        c("clock_nanosleep"),
    ]
    merged = merge(python, native, V312, last_only=True)
    assert names(merged) == ["py:main", "py:callback", "c:time_sleep", "c:clock_nanosleep"]


def test_counts_that_disagree_cannot_merge() -> None:
    python = [py("main", True), py("callback", True)]
    assert not can_merge(python, [c("main"), c("_PyEval_EvalFrameDefault")], V312)


def test_gc_from_native_frames_ignores_clone_suffixes() -> None:
    assert base_name("take_gil.lto_priv.0") == "take_gil"
    assert collecting_from_native([c("gc_collect_main")])
    assert collecting_from_native([c("collect.constprop.0")])
    assert not collecting_from_native([c("collector_thread")])


def test_a_stack_cut_short_merges_its_innermost_part() -> None:
    python = [py("main", True), py("enter", False), py("callback", True)]
    # Unwinding stopped inside a library missing here: the outer frames are gone.
    native = [c("???"), c("_PyEval_EvalFrameDefault"), c("time_sleep")]
    assert not can_merge(python, native, V312)
    merged = merge_partial(python, native, V312)
    assert merged is not None
    assert names(merged) == ["py:main", "py:enter", "c:???", "py:callback", "c:time_sleep"]


def test_a_complete_stack_is_never_merged_partially() -> None:
    python = [py("main", True), py("callback", True)]
    native = [c("_start"), c("_PyEval_EvalFrameDefault"), c("time_sleep")]
    assert merge_partial(python, native, V312) is None


def test_a_stack_cut_before_any_eval_frame_goes_after_the_python_frames() -> None:
    python = [py("main", True), py("callback", True)]
    merged = merge_partial(python, [c("???")], V312)
    assert merged is not None and names(merged) == ["py:main", "py:callback", "c:???"]
