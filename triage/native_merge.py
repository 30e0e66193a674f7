"""One stack per thread: native frames with the interpreter's own frames replaced by Python ones.

Each C activation of the evaluation loop ran one or more Python frames: the one entered from C
(``is_entry``) and those it called without leaving the loop (3.11+ inlines Python-to-Python
calls). Walking the native stack outermost first, every eval-loop frame is replaced by its
Python frames, interpreter plumbing (call trampolines, vectorcall) is dropped, and every other
native frame stays, so the output reads as the calls really nested.
"""

from __future__ import annotations

from collections.abc import Sequence

from .model import Frame
from .stack import base_name

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Literal

    FrameClass = Literal["eval", "ignore", "other"]

# C functions that only pass a Python call along; hidden when frames are merged (as PyStack).
PLUMBING_PREFIXES = (
    "PyEval",
    "_PyEval",
    "_Py",
    "_TAIL_CALL_",
    "PyObject_Call",
    "call_function",
    "classmethoddescr_call",
    "cmpwrapper_call",
    "fast_function",
    "function_call",
    "instance_call",
    "instancemethod_call",
    "methoddescr_call",
    "proxy_call",
    "slot_tp_call",
    "type_call",
    "weakref_call",
    "wrap_call",
    "wrapper_call",
    "wrapperdescr_call",
    "do_call_core",
)

UNMERGEABLE = "* - Unable to merge native stack due to insufficient native information - *"


def classify(function: str, version: tuple[int, ...] | None) -> FrameClass:
    """Whether a native frame is the eval loop, interpreter plumbing, or anything else."""
    eval_name = "PyEval_EvalFrameEx" if version and version < (3, 6) else "_PyEval_EvalFrameDefault"
    if eval_name in function:
        return "eval"
    if function.startswith(PLUMBING_PREFIXES):
        return "ignore"
    if version and version >= (3, 8) and "vectorcall" in function.lower():
        return "ignore"
    return "other"


def can_merge(
    python: Sequence[Frame], native: Sequence[Frame], version: tuple[int, ...] | None
) -> bool:
    """Merging is exact only when each eval-loop activation has its entry frame."""
    evals = sum(1 for frame in native if classify(frame.function, version) == "eval")
    return evals == sum(1 for frame in python if frame.is_entry)


def merge(
    python: Sequence[Frame],
    native: Sequence[Frame],
    version: tuple[int, ...] | None,
    last_only: bool = False,
) -> list[Frame]:
    """The merged stack, outermost first; with ``last_only``, native frames only after the last
    Python frame. The caller checks ``can_merge`` first."""
    merged: list[Frame] = []
    pending: list[Frame] = []  # native frames since the last Python frame (for last_only)
    index = 0
    for frame in native:
        kind = classify(frame.function, version)
        if kind == "eval":
            if last_only:
                pending.clear()
            if index < len(python):
                merged.append(python[index])
                index += 1
            while index < len(python) and not python[index].is_entry:
                merged.append(python[index])
                index += 1
        elif kind == "other":
            (pending if last_only else merged).append(frame)
    merged.extend(pending)
    merged.extend(python[index:])
    return merged


# Where every complete native stack starts: a stack whose outermost frame is none of these was
# cut short (no CFI to unwind through a library missing here).
THREAD_ROOTS = frozenset({"_start", "__libc_start_main", "start_thread", "clone", "clone3"})


def truncated(native: Sequence[Frame]) -> bool:
    if not native:
        return False
    outermost = base_name(native[0].function).lstrip("_")
    return not any(outermost == root.lstrip("_") for root in THREAD_ROOTS)


def merge_partial(
    python: Sequence[Frame],
    native: Sequence[Frame],
    version: tuple[int, ...] | None,
    last_only: bool = False,
) -> list[Frame] | None:
    """Merge a native stack that was cut short on its outer side.

    The innermost native frames are still right: they cover the innermost eval-loop
    activations, so they are merged with the matching innermost Python frames, and the outer
    Python frames come first, unmatched. None when that alignment is impossible."""
    if not truncated(native):
        return None
    evals = sum(1 for frame in native if classify(frame.function, version) == "eval")
    entries = [index for index, frame in enumerate(python) if frame.is_entry]
    if evals > len(entries):
        return None
    # With no eval-loop frame left, every native frame is inner to the last Python frame.
    split = entries[len(entries) - evals] if evals else len(python)
    return list(python[:split]) + merge(python[split:], native, version, last_only)
