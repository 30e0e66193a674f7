"""A crash's analysis as the JSON document to download, written next to its page.

From the model the page is built from (``records`` scrubbed it), through ``document.to_json``,
so the file says exactly what the page shows; without locals it carries none either.
"""

from __future__ import annotations

import json

from ..document import to_json
from ..model import Analysis, replace
from .records import CrashRecord


def without_locals(analysis: Analysis) -> Analysis:
    threads = tuple(
        replace(
            thread,
            frames=tuple(replace(frame, arguments=None, locals=None) for frame in thread.frames),
            native_frames=(),
        )
        for thread in analysis.threads
    )
    return replace(analysis, threads=threads)


def crash_document(crash: CrashRecord, with_locals: bool = True) -> str | None:
    """The document's text; None for a crash without an analysis (pending, failed early)."""
    analysis = crash.analysis
    if analysis is None:
        return None
    if not with_locals:
        analysis = without_locals(analysis)
    # ASCII-only, as `triage core --json` writes it: valid whatever a viewer assumes.
    # Compact: with an indent the json module falls back to its pure-Python encoder, which
    # costs more than the page itself; `jq .` shows it indented.
    return json.dumps(to_json(analysis), ensure_ascii=True, separators=(",", ":")) + "\n"
