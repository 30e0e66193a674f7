"""Typed stub of the C++ extension: ``triage.model`` objects out, exceptions for unusable input.

The extension builds the model itself. Each thread's Python frames are in ``frames`` and, with
``native`` or ``native_all``, its unwound native stack in ``native_frames`` (outermost first);
``triage.analysis.finish`` merges the two and marks the crashed thread. A thread's ``name`` is the
OS name (live processes only), its ``python_name`` the name ``threading`` gave it, read from the
target's memory (None for a thread ``threading`` does not know). Every string is valid
UTF-8 (anything undecodable from a core is U+FFFD). The stub is checked against the module
(``python -m mypy.stubtest triage._native``).
"""

from triage.model import Analysis

class CoreFileError(Exception):
    """The input is not usable as a core: unreadable, not ELF, not a core, truncated headers."""

class AnalysisError(Exception):
    """The core is readable but no usable answer could be computed from it."""

class ProcessError(Exception):
    """The process cannot be inspected: no such process, a zombie, permission denied."""

# Names of the interpreter's functions the analyzer recognizes on a machine stack (2.7 to 3.13).
TAKE_GIL_FUNCTIONS: tuple[str, ...]
DROP_GIL_FUNCTIONS: tuple[str, ...]
COLLECTOR_FUNCTIONS: tuple[str, ...]

def analyze_core(
    core: str,
    executable: str | None = None,
    lib_search_path: list[str] | None = None,
    lib_search_root: str | None = None,
    max_frames: int = 100000,
    locals: bool = False,
    native: bool = False,
    native_all: bool = False,
) -> Analysis:
    """Analyze a core file (plain, gzip, zstd, lz4 or xz).

    A core of a process that is not Python comes back with ``python_version`` None and
    ``python_error`` set. Raises ``CoreFileError`` when the file is not a usable core.
    """

def analyze_process(
    pid: int,
    block: bool = True,
    max_frames: int = 100000,
    locals: bool = False,
    native: bool = False,
    native_all: bool = False,
) -> Analysis:
    """Analyze a running process (stopped only for the reads when ``block``); the core info
    comes from /proc. Native stacks need ``block``. Raises ``ProcessError`` when the process
    cannot be inspected."""

def sha256_of_file(fd: int) -> str:
    """SHA-256 (64 hex digits) of the whole file open on ``fd``, read from offset 0 without the
    GIL; the descriptor's offset is left alone. Raises ``OSError`` when a read fails."""
