"""The JSON document of DESIGN.md (schema 1) for an ``Analysis``."""

from __future__ import annotations

import json

from ..model import Analysis, CoreInfo, Frame, Thread, signal_name

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: see triage.model
if TYPE_CHECKING:
    from typing import Any, TextIO

SCHEMA_VERSION = 1


def frame_to_json(frame: Frame) -> dict[str, Any]:
    """One frame; fields of the other kind are left out rather than set to null."""
    data: dict[str, Any] = {
        "kind": frame.kind,
        "file": frame.file,
        "line": frame.line,
        "function": frame.function,
    }
    if frame.kind == "python":
        data["qualname"] = frame.qualname
        data["first_line"] = frame.first_line
        data["is_entry"] = frame.is_entry
        if frame.arguments is not None or frame.locals is not None:
            arguments = frame.arguments or ()
            data["arguments"] = [name for name, _ in arguments]
            data["locals"] = dict((*arguments, *(frame.locals or ())))
    else:
        data["library"] = frame.library
        data["address"] = hex(frame.address) if frame.address is not None else None
        data["offset"] = hex(frame.offset) if frame.offset is not None else None
        data["library_path"] = frame.library_path
        data["inlined"] = frame.inlined
    return data


def thread_to_json(thread: Thread) -> dict[str, Any]:
    return {
        "tid": thread.tid,
        "python": thread.python,
        "crashed": thread.crashed,
        "gil": thread.gil,
        "gc": thread.gc,
        "interpreter_id": thread.interpreter_id,
        "truncated": thread.truncated,
        "merge_failed": thread.merge_failed,
        "warnings": list(thread.warnings),
        "frames": [frame_to_json(frame) for frame in thread.frames],
    }


def process_to_json(core: CoreInfo | None, analysis: Analysis) -> dict[str, Any]:
    version = analysis.python_version_string
    if core is None:
        return {"python_version": version}
    return {
        "pid": core.pid,
        "ppid": core.ppid,
        "argv": list(core.argv),
        "uid": core.uid,
        "gid": core.gid,
        # null when the core records no signal (taken on demand by an old gcore)
        "signal": (
            {"number": core.signal, "name": signal_name(core.signal)} if core.signal else None
        ),
        "python_version": version,
        "si_code": core.si_code,
        "fault_address": hex(core.fault_address) if core.is_fault else None,
        "sender_pid": core.sent_by,
        "crashed": core.is_crash,
        "sid": core.sid,
        "pgrp": core.pgrp,
        "state": core.state,
        "zombie": core.zombie,
        "nice": core.nice,
        "fname": core.fname,
        "psargs": core.psargs,
        "execfn": core.execfn,
    }


def analysis_to_json(analysis: Analysis, error: str | None = None) -> dict[str, Any]:
    """The schema-1 document; ``error`` is why the analysis failed (null on success)."""
    source: dict[str, Any] = {
        "kind": analysis.source.kind,
        "path": analysis.source.path,
        "executable": analysis.source.executable,
        "executable_from_core": analysis.source.executable_from_core,
    }
    if analysis.source.kind == "core" and analysis.core is not None:
        source["compression"] = analysis.core.compression
    if analysis.stopped_seconds is not None:
        source["stopped_seconds"] = analysis.stopped_seconds
    return {
        "schema": SCHEMA_VERSION,
        "source": source,
        "process": process_to_json(analysis.core, analysis),
        "threads": [thread_to_json(thread) for thread in analysis.threads],
        "missing_libraries": list(analysis.missing_libraries),
        "warnings": list(analysis.warnings),
        "error": error,
    }


def write_json(analysis: Analysis, out: TextIO, error: str | None = None) -> None:
    # ASCII-only so the document stays valid JSON whatever the terminal's encoding.
    json.dump(analysis_to_json(analysis, error), out, indent=2, ensure_ascii=True)
    out.write("\n")
    out.flush()
