"""Hand-built analyses for the pure-Python tests: the facts the extension would read, and the
model objects it would build from them."""

from __future__ import annotations

from typing import Any

# The facts of an analysis, as the extension reads them: a SIGSEGV at 0x10 in thread 100.
# ``model_of`` builds from it the objects the extension returns (before ``finish``).
CORE_DICT: dict[str, Any] = {
    "core": {
        "path": "/spool/core.100",
        "pid": 100,
        "ppid": 1,
        "pgrp": 100,
        "sid": 90,
        "uid": 1000,
        "gid": 1001,
        "state": "R",
        "zombie": False,
        "nice": 0,
        "fname": "python3.12",
        "psargs": "python3.12 app.py --port 80 ",
        "signal": 11,
        "si_code": 1,
        "si_errno": 0,
        "fault_address": 0x10,
        "sender_pid": None,
        "sender_uid": None,
        "execfn": "/usr/bin/python3.12",
        "tids": [100, 101],
        "compression": None,
    },
    "executable": "/usr/bin/python3.12",
    "executable_from_core": True,
    "python_version": [3, 12, 1],
    "python_error": None,
    "threads": [
        {
            "tid": 101,
            "tstate": 0x2000,
            "interpreter_id": 0,
            "gil": 0,
            "gc": 0,
            "frames": [
                {
                    "file": "/app/worker.py",
                    "function": "run",
                    "qualname": "Worker.run",
                    "line": 5,
                    "first_line": 3,
                    "is_entry": True,
                    "frame_address": 0x3000,
                    "code_address": 0x4000,
                }
            ],
            "truncated": False,
            "warnings": [],
        },
        {
            "tid": 100,
            "tstate": 0x1000,
            "interpreter_id": 0,
            "gil": 1,
            "gc": 1,
            "frames": [
                {
                    "file": "/app/server.py",
                    "function": "<module>",
                    "qualname": "<module>",
                    "line": 30,
                    "first_line": 1,
                    "is_entry": True,
                    "frame_address": 0x5000,
                    "code_address": 0x6000,
                },
                {
                    "file": "/app/server.py",
                    "function": "handle",
                    "qualname": "Server.handle",
                    "line": -1,
                    "first_line": 15,
                    "is_entry": False,
                    "frame_address": 0x7000,
                    "code_address": 0x8000,
                },
            ],
            "truncated": False,
            "warnings": [],
        },
    ],
    "missing_libraries": [],
    "warnings": [],
}


_GIL = {1: "held", 2: "waiting", 3: "dropping"}


def model_of(facts: dict[str, Any], native_mode: str | None = None) -> Any:
    """The finished ``Analysis`` of FACTS (the extension's model, then ``analysis.finish``)."""
    from triage.analysis import finish
    from triage.model import (
        Analysis,
        CoreInfo,
        Frame,
        FrameKind,
        GilState,
        Source,
        SourceKind,
        Thread,
    )

    core = facts["core"]
    info = CoreInfo(**{k: tuple(v) if isinstance(v, list) else v for k, v in core.items()})

    def frame(f: dict[str, Any]) -> Frame:
        line, first = f.get("line", -1), f.get("first_line", -1)
        return Frame(
            kind=FrameKind.PYTHON,
            function=f["function"],
            file=f["file"],
            line=line if line >= 0 else None,
            qualname=f.get("qualname"),
            first_line=first if first >= 0 else None,
            is_entry=f.get("is_entry", False),
            arguments=tuple(map(tuple, f["arguments"])) if "arguments" in f else None,
            locals=tuple(map(tuple, f["locals"])) if "locals" in f else None,
        )

    def thread(t: dict[str, Any]) -> Thread:
        gil = _GIL.get(t.get("gil", -1))
        gc = t.get("gc", -1)
        return Thread(
            tid=t["tid"],
            frames=tuple(frame(f) for f in t.get("frames", ())),
            gil=GilState(gil) if gil else None,
            gc=None if gc == -1 else gc == 1,
            interpreter_id=t.get("interpreter_id", 0),
            truncated=t.get("truncated", False),
            warnings=tuple(t.get("warnings", ())),
        )

    version = facts.get("python_version")
    raw = Analysis(
        source=Source(
            SourceKind.CORE, info.path, facts.get("executable"), facts["executable_from_core"]
        ),
        core=info,
        python_version=tuple(version) if version else None,
        python_error=facts.get("python_error"),
        threads=tuple(thread(t) for t in facts.get("threads", ())),
        missing_libraries=tuple(facts.get("missing_libraries", ())),
        warnings=tuple(facts.get("warnings", ())),
    )
    return finish(raw, native_mode)  # type: ignore[arg-type]
