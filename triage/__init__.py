"""coretriage: Python stacks, PyStack-compatible, from core files of crashed Python processes."""

from __future__ import annotations

from .analysis import analyze_core
from .errors import AnalysisFailed, InputError, TriageError, UsageError
from .model import Analysis, CoreInfo, Frame, Source, Thread


def __getattr__(name: str) -> str:
    # Looked up lazily: importlib.metadata alone costs more than a whole Python-only analysis.
    if name == "__version__":
        return _version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("coretriage")
    except PackageNotFoundError:  # running from a checkout that is not installed
        return "unknown"


__all__ = [
    "Analysis",
    "AnalysisFailed",
    "CoreInfo",
    "Frame",
    "InputError",
    "Source",
    "Thread",
    "TriageError",
    "UsageError",
    "__version__",
    "analyze_core",
]
