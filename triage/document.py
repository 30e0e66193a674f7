"""The analysis as a JSON document (schema 1, docs/json.md) and back.

``to_json`` is what ``triage core --json`` prints and what the database stores; ``from_json``
reads any document this release or an earlier one wrote, tolerating missing or odd fields (a
stored document is data from a core: it may be partial), so that every consumer works on the
model rather than on dicts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TextIO

from .model import (
    Analysis,
    CoreInfo,
    ExceptionInFlight,
    Frame,
    FrameKind,
    GilState,
    Source,
    SourceKind,
    Thread,
    signal_name,
)

SCHEMA_VERSION = 1


# --- model → document -------------------------------------------------------------------------


def frame_to_json(frame: Frame) -> dict[str, Any]:
    """One frame; fields of the other kind are left out rather than set to null."""
    data: dict[str, Any] = {
        "kind": frame.kind.value,
        "file": frame.file,
        "line": frame.line,
        "function": frame.function,
    }
    if frame.kind is FrameKind.PYTHON:
        data["qualname"] = frame.qualname
        data["first_line"] = frame.first_line
        data["is_entry"] = frame.is_entry
        if frame.arguments is not None or frame.locals is not None:
            arguments = frame.arguments or ()
            data["arguments"] = [name for name, _ in arguments]
            data["locals"] = dict((*arguments, *(frame.locals or ())))
    else:
        data["library"] = frame.library
        data["address"] = _hex(frame.address)
        data["offset"] = _hex(frame.offset)
        data["library_path"] = frame.library_path
        data["inlined"] = frame.inlined
    for key in ("column", "end_line", "end_column"):
        value = getattr(frame, key)
        if value is not None:
            data[key] = value
    return data


def thread_to_json(thread: Thread) -> dict[str, Any]:
    data: dict[str, Any] = {
        "tid": thread.tid,
        "python": thread.python,
        "crashed": thread.crashed,
        "gil": thread.gil.value if thread.gil is not None else None,
        "gc": thread.gc,
        "interpreter_id": thread.interpreter_id,
        "truncated": thread.truncated,
        "merge_failed": thread.merge_failed,
        "warnings": list(thread.warnings),
        "frames": [frame_to_json(frame) for frame in thread.frames],
    }
    if thread.name is not None:
        data["name"] = thread.name
    if thread.python_name is not None:
        data["python_name"] = thread.python_name
    if thread.exception is not None:
        data["exception"] = {
            "type": thread.exception.type,
            "repr": thread.exception.repr,
            "handled": thread.exception.handled,
            "traceback": [frame_to_json(frame) for frame in thread.exception.traceback],
        }
    return data


def process_to_json(analysis: Analysis) -> dict[str, Any]:
    core = analysis.core
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
        "si_errno": core.si_errno,
        "fault_address": hex(core.fault_address or 0) if core.is_fault else None,
        "sender_pid": core.sent_by,
        "sender_uid": core.sender_uid if core.sent_by is not None else None,
        "crashed": core.is_crash,
        "sid": core.sid,
        "pgrp": core.pgrp,
        "state": core.state,
        "zombie": core.zombie,
        "nice": core.nice,
        "fname": core.fname,
        "psargs": core.psargs,
        "execfn": core.execfn,
        "tids": list(core.tids),
    }


def to_json(analysis: Analysis) -> dict[str, Any]:
    """The schema-1 document; ``error`` is why the analysis is unusable (null on success)."""
    source: dict[str, Any] = {
        "kind": analysis.source.kind.value,
        "path": analysis.source.path,
        "executable": analysis.source.executable,
        "executable_from_core": analysis.source.executable_from_core,
    }
    if analysis.source.kind is SourceKind.CORE and analysis.core is not None:
        source["compression"] = analysis.core.compression
    if analysis.stopped_seconds is not None:
        source["stopped_seconds"] = analysis.stopped_seconds
    return {
        "schema": SCHEMA_VERSION,
        "source": source,
        "process": process_to_json(analysis),
        "threads": [thread_to_json(thread) for thread in analysis.threads],
        "missing_libraries": list(analysis.missing_libraries),
        "warnings": list(analysis.warnings),
        "python_error": analysis.python_error,
        "error": analysis.error,
    }


def write_json(analysis: Analysis, out: TextIO) -> None:
    # ASCII-only so the document stays valid JSON whatever the terminal's encoding.
    json.dump(to_json(analysis), out, indent=2, ensure_ascii=True)
    out.write("\n")
    out.flush()


def _hex(value: int | None) -> str | None:
    return hex(value) if value is not None else None


# --- document → model -------------------------------------------------------------------------


def from_json(document: object) -> Analysis:
    """The model of a stored document; whatever is missing or malformed takes its default."""
    doc = _mapping(document)
    source = _mapping(doc.get("source"))
    process = _mapping(doc.get("process"))
    kind = SourceKind.PROCESS if source.get("kind") == "process" else SourceKind.CORE
    path = _text(source.get("path")) or ""
    core = _core_info(process, path, kind, _text(source.get("compression")))
    stopped = source.get("stopped_seconds")
    return Analysis(
        source=Source(
            kind=kind,
            path=path,
            executable=_text(source.get("executable")),
            executable_from_core=source.get("executable_from_core") is True,
        ),
        core=core,
        python_version=_version(process.get("python_version")),
        python_error=_text(doc.get("python_error")),
        threads=tuple(_thread(t) for t in _list(doc.get("threads")) if isinstance(t, Mapping)),
        missing_libraries=_texts(doc.get("missing_libraries")),
        warnings=_texts(doc.get("warnings")),
        stopped_seconds=float(stopped) if isinstance(stopped, (int, float)) else None,
        error=_text(doc.get("error")),
    )


def _core_info(
    process: Mapping[str, Any], path: str, kind: SourceKind, compression: str | None
) -> CoreInfo | None:
    pid = _int(process.get("pid"))
    if pid is None:
        return None  # a document without a process: nothing was read of it
    signal = _mapping(process.get("signal"))
    psargs = _text(process.get("psargs")) or ""
    argv = _texts(process.get("argv"))
    sender = _int(process.get("sender_pid"))
    return CoreInfo(
        path=path,
        pid=pid,
        ppid=_int(process.get("ppid")) or 0,
        pgrp=_int(process.get("pgrp")) or 0,
        sid=_int(process.get("sid")) or 0,
        uid=_int(process.get("uid")) or 0,
        gid=_int(process.get("gid")) or 0,
        state=_text(process.get("state")) or "?",
        zombie=process.get("zombie") is True,
        nice=_int(process.get("nice")) or 0,
        fname=_text(process.get("fname")) or "",
        psargs=psargs,
        signal=_int(signal.get("number")) or 0,
        si_code=_int(process.get("si_code")) or 0,
        si_errno=_int(process.get("si_errno")) or 0,
        fault_address=_address(process.get("fault_address")),
        sender_pid=sender,
        sender_uid=_int(process.get("sender_uid")),
        execfn=_text(process.get("execfn")),
        tids=tuple(t for t in (_int(v) for v in _list(process.get("tids"))) if t is not None),
        compression=compression,
        # A core's argv is psargs split; a live process's is exact: keep it only then.
        full_argv=argv if kind is SourceKind.PROCESS else None,
    )


def _thread(data: Mapping[str, Any]) -> Thread:
    gil = data.get("gil")
    gc = data.get("gc")
    return Thread(
        tid=_int(data.get("tid")) or 0,
        frames=tuple(_frame(f) for f in _list(data.get("frames")) if isinstance(f, Mapping)),
        gil=GilState(gil) if gil in _GIL_VALUES else None,
        gc=gc if isinstance(gc, bool) else None,
        crashed=data.get("crashed") is True,
        python=data.get("python") is not False,
        interpreter_id=_int(data.get("interpreter_id")),
        truncated=data.get("truncated") is True,
        warnings=_texts(data.get("warnings")),
        merge_failed=data.get("merge_failed") is True,
        name=_text(data.get("name")),
        python_name=_text(data.get("python_name")),
        exception=_exception(data.get("exception")),
    )


def _exception(value: object) -> ExceptionInFlight | None:
    data = _mapping(value)
    kind = _text(data.get("type"))
    if kind is None:
        return None
    return ExceptionInFlight(
        type=kind,
        repr=_text(data.get("repr")),
        handled=data.get("handled") is True,
        traceback=tuple(_frame(f) for f in _list(data.get("traceback")) if isinstance(f, Mapping)),
    )


_GIL_VALUES = {state.value for state in GilState}


def _frame(data: Mapping[str, Any]) -> Frame:
    native = data.get("kind") == "native"
    common: dict[str, Any] = {
        "function": _text(data.get("function")) or "???",
        "file": _text(data.get("file")),
        "line": _int(data.get("line")),
        "column": _int(data.get("column")),
        "end_line": _int(data.get("end_line")),
        "end_column": _int(data.get("end_column")),
    }
    if native:
        return Frame(
            kind=FrameKind.NATIVE,
            library=_text(data.get("library")),
            address=_address(data.get("address")),
            offset=_address(data.get("offset")),
            library_path=_text(data.get("library_path")),
            inlined=data.get("inlined") is True,
            **common,
        )
    arguments, local_values = _variables(data)
    return Frame(
        kind=FrameKind.PYTHON,
        qualname=_text(data.get("qualname")),
        first_line=_int(data.get("first_line")),
        is_entry=data.get("is_entry") is True,
        arguments=arguments,
        locals=local_values,
        **common,
    )


def _variables(
    data: Mapping[str, Any],
) -> tuple[tuple[tuple[str, str], ...] | None, tuple[tuple[str, str], ...] | None]:
    """Arguments and the other locals; (None, None) when the document recorded none."""
    values = data.get("locals")
    if not isinstance(values, Mapping):
        return None, None
    names = [n for n in _texts(data.get("arguments")) if n in values]
    arguments = tuple((name, _text(values[name]) or "") for name in names)
    taken = set(names)
    others = tuple(
        (str(name), _text(value) or "") for name, value in values.items() if name not in taken
    )
    return arguments, others


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: object) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    return value if isinstance(value, str) else str(value)


def _texts(value: object) -> tuple[str, ...]:
    return tuple(_text(item) or "" for item in _list(value))


def _int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _address(value: object) -> int | None:
    """``"0x7f..."`` as the document writes addresses (an int is accepted too)."""
    if isinstance(value, str):
        try:
            return int(value, 16)
        except ValueError:
            return None
    return _int(value)


def _version(value: object) -> tuple[int, ...] | None:
    if not isinstance(value, str) or not value:
        return None
    parts = value.split(".")
    if not all(part.isdigit() for part in parts) or not 2 <= len(parts) <= 3:
        return None
    return tuple(int(part) for part in parts)
