"""Whether an analyzed core is `done` (grouped) or `failed`, and the reason, said precisely.

A core is failed when nothing can be grouped by: no stack at all, or a Python process whose
stack gave no meaningful frame (a truncated core, an interpreter state out of reach). Grouping
those by signal and executable would put unrelated crashes together. A process that is not
Python and has no symbolized frame is still grouped by its executable (``no-stack``).
"""

from __future__ import annotations

import posixpath
import re

from ..document import to_json
from ..model import Analysis
from ..outcome import DONE, FAILED, Outcome, facts_of
from ..scrub import scrub
from ..signature import Signature, SignatureConfig, compute

# The analyzer's warning for a core cut short: "core file is truncated: N of M bytes present".
_TRUNCATED = re.compile(r"core file is truncated: (\d+) of (\d+) bytes")
_PYTHON_EXECUTABLE = re.compile(r"^python\d*(?:\.\d+)*[a-z]*$")


def outcome_of(analysis: Analysis, config: SignatureConfig) -> Outcome:
    """Done and grouped when a usable stack was recovered; failed, with why, otherwise (a failed
    core keeps whatever its analysis read: signal, executable, pid). Secrets are scrubbed from
    everything stored, the signature included."""
    analysis = scrub(analysis, config.scrub)
    signature = compute(analysis, config)
    document, facts = to_json(analysis), facts_of(analysis)
    error = analysis.error or ungroupable(analysis, signature)
    if error is not None:
        return Outcome(FAILED, error, document, facts)
    return Outcome(DONE, None, document, facts, signature)


def nothing_usable(analysis: Analysis) -> str | None:
    """Failed before any signature: not a single frame was recovered."""
    if any(thread.frames for thread in analysis.threads):
        return None
    if analysis.python_version is None and not _python_executable(analysis):
        reason = analysis.python_error or "no Python interpreter state found"
        return precise(analysis, f"not a Python process and no native stack: {reason}")
    return precise(analysis, analysis.python_error or "no stack could be recovered")


def ungroupable(analysis: Analysis, signature: Signature) -> str | None:
    """Failed although frames exist: a Python process none of whose frames is meaningful."""
    if signature.meaningful or not _is_python(analysis):
        return None
    return precise(analysis, analysis.python_error or "no meaningful frame in any thread")


def precise(analysis: Analysis, reason: str) -> str:
    """The reason, led by how much of the core there was when it was cut short."""
    for warning in analysis.warnings:
        found = _TRUNCATED.search(warning)
        if found:
            have, want = (int(n) / 1e6 for n in found.groups())
            return f"core truncated: {have:.1f} of {want:.1f} MB; {_short(reason)}"
    return reason


def _short(reason: str) -> str:
    return "no interpreter state" if "interpreter state" in reason else reason


def _is_python(analysis: Analysis) -> bool:
    return analysis.python_version is not None or _python_executable(analysis)


def _python_executable(analysis: Analysis) -> bool:
    executable = analysis.source.executable or (analysis.core.fname if analysis.core else "")
    return bool(_PYTHON_EXECUTABLE.match(posixpath.basename(executable or "")))
