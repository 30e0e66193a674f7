"""coretriage: Python stacks, PyStack-compatible, from core files of crashed Python processes.

The public names are imported on first use: the program ``triage`` imports this package before
anything else, and a ``triage core`` must not pay for what it does not run.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from .analysis import analyze_core
    from .errors import AnalysisFailed, InputError, TriageError, UsageError
    from .model import Analysis, CoreInfo, Frame, Source, Thread

# Public name -> the module that defines it.
_EXPORTS = {
    "analyze_core": ".analysis",
    "AnalysisFailed": ".errors",
    "InputError": ".errors",
    "TriageError": ".errors",
    "UsageError": ".errors",
    "Analysis": ".model",
    "CoreInfo": ".model",
    "Frame": ".model",
    "Source": ".model",
    "Thread": ".model",
}


def __getattr__(name: str) -> object:
    if name == "__version__":  # importlib.metadata alone costs more than an analysis
        return _version()
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS, "__version__"])


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
