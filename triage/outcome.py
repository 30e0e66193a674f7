"""What one analysis comes to, ready to be stored: done or failed, why, the stored document, the
crash row's columns read from it, and the signature.

It is made where the analysis is (a worker process: ``triage.spool.verdict.outcome_of``), so
that the process writing the database only stores: it never rebuilds, scrubs or signs an
analysis, and many workers' results are recorded by one writer without it becoming the
bottleneck. It crosses the pipe as JSON (``outcome_to_json`` and back).
"""

from __future__ import annotations

from dataclasses import asdict

from .model import Record
from .signature import Signature

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .model import Analysis

# How an analysis ends (the crash's status after it; the queue's own states are the store's).
DONE = "done"
FAILED = "failed"
# What an analyzed core is: written because a signal killed the process, or a snapshot of a
# process that did not die (gcore, a live analysis saved into the pipeline): a hang.
CRASH = "crash"
HANG = "hang"


class Facts(Record):
    """The crash row's columns that come from the analysis."""

    __slots__ = ("python_version", "signal", "pid", "executable", "kind", "quality")
    python_version: str | None
    signal: str | None
    pid: int | None
    executable: str | None  # what the core says; a collector's sidecar knows better
    kind: str  # CRASH or HANG
    quality: int  # how informative the stack is (``triage.stack.informativeness``)

    def __init__(
        self,
        python_version: str | None = None,
        signal: str | None = None,
        pid: int | None = None,
        executable: str | None = None,
        kind: str = CRASH,
        quality: int = 0,
    ) -> None:
        _set = object.__setattr__
        _set(self, "python_version", python_version)
        _set(self, "signal", signal)
        _set(self, "pid", pid)
        _set(self, "executable", executable)
        _set(self, "kind", kind)
        _set(self, "quality", quality)


class Outcome(Record):
    """The result of analyzing one crash. A failed crash keeps whatever its analysis read (the
    document and facts) but has no signature."""

    __slots__ = ("status", "error", "document", "facts", "signature")
    status: str  # DONE or FAILED
    error: str | None
    document: dict[str, Any] | None  # the analysis as stored (secrets scrubbed)
    facts: Facts | None
    signature: Signature | None

    def __init__(
        self,
        status: str,
        error: str | None = None,
        document: dict[str, Any] | None = None,
        facts: Facts | None = None,
        signature: Signature | None = None,
    ) -> None:
        _set = object.__setattr__
        _set(self, "status", status)
        _set(self, "error", error)
        _set(self, "document", document)
        _set(self, "facts", facts)
        _set(self, "signature", signature)


def facts_of(analysis: Analysis) -> Facts:
    from .stack import informativeness

    core = analysis.core
    return Facts(
        python_version=analysis.python_version_string,
        signal=core.signal_name if core is not None else None,
        pid=core.pid if core is not None else None,
        executable=analysis.source.executable or (core.execfn if core else None),
        kind=HANG if analysis.is_snapshot else CRASH,
        quality=informativeness(analysis),
    )


def outcome_to_json(outcome: Outcome) -> dict[str, Any]:
    facts, signature = outcome.facts, outcome.signature
    return {
        "status": outcome.status,
        "error": outcome.error,
        "document": outcome.document,
        "facts": None if facts is None else dict(zip(Facts.__slots__, facts._values())),
        "signature": None if signature is None else asdict(signature),
    }


def outcome_from_json(data: dict[str, Any]) -> Outcome:
    facts, signature = data.get("facts"), data.get("signature")
    return Outcome(
        status=data["status"],
        error=data.get("error"),
        document=data.get("document"),
        facts=None if facts is None else Facts(**facts),
        # JSON has no tuples: the notes come back as a list.
        signature=None
        if signature is None
        else Signature(**{**signature, "notes": tuple(signature.get("notes", ()))}),
    )
