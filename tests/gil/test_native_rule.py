"""The native-mode GIL rule (the same as the analyzer's): only the innermost machine frame outside
the C library's wait counts, whatever is further up the stack."""

from __future__ import annotations

from triage.model import Frame
from triage.native_merge import gil_from_native


def native(*inner_first: tuple[str, str] | tuple[str, str, bool]) -> list[Frame]:
    """Frames given innermost first as (function, library[, inlined]); returned outermost first."""
    frames = [
        Frame(kind="native", function=f[0], file=None, line=None, library=f[1],
              inlined=len(f) > 2 and bool(f[2]))
        for f in inner_first
    ]  # fmt: skip
    return frames[::-1]


LIBC = "libc.so.6"
PY = "libpython3.12.so.1.0"


def test_waiting_in_a_clone_of_take_gil() -> None:
    stack = native(
        ("__futex_abstimed_wait_common", LIBC),
        ("pthread_cond_timedwait@@GLIBC_2.3.2", LIBC),
        ("take_gil.lto_priv.0", PY),
        ("PyEval_RestoreThread", PY),
    )
    assert gil_from_native(stack) == "waiting"


def test_take_gil_inlined_into_its_caller() -> None:
    stack = native(
        ("pthread_cond_timedwait", LIBC),
        ("take_gil", PY, True),
        ("PyEval_RestoreThread", PY),
    )
    assert gil_from_native(stack) == "waiting"


def test_dropping() -> None:
    stack = native(("pthread_cond_wait", LIBC), ("drop_gil", PY), ("_PyEval_EvalFrameDefault", PY))
    assert gil_from_native(stack) == "dropping"


def test_a_foreign_call_released_the_gil() -> None:
    """libc's sleep called through libffi: take_gil further up (a stale frame symbolized from a
    wrong unwind, or a real caller) does not make the thread a waiter."""
    stack = native(
        ("clock_nanosleep@GLIBC_2.2.5", LIBC),
        ("sleep", LIBC),
        ("ffi_call_unix64", "libffi.so.8"),
        ("_ctypes_callproc", "_ctypes.cpython-312-x86_64-linux-gnu.so"),
        ("take_gil", PY),
        ("_PyEval_EvalFrameDefault", PY),
    )
    assert gil_from_native(stack) is None


def test_blas_without_the_gil() -> None:
    stack = native(("dgemm_kernel", "libopenblas.so.0"), ("drop_gil", PY))
    assert gil_from_native(stack) is None


def test_python27_gil_is_a_lock() -> None:
    waiting = native(
        ("sem_wait", "libpthread.so.0"),
        ("PyThread_acquire_lock", "libpython2.7.so.1.0"),
        ("PyEval_RestoreThread", "libpython2.7.so.1.0"),
    )
    assert gil_from_native(waiting) == "waiting"
    user_lock = native(
        ("sem_wait", "libpthread.so.0"),
        ("PyThread_acquire_lock", "libpython2.7.so.1.0"),
        ("lock_PyThread_acquire_lock", "libpython2.7.so.1.0"),
    )
    assert gil_from_native(user_lock) is None
