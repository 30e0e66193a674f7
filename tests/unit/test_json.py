"""The schema-1 JSON document (docs/json.md): model → document → model."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from coretest.models import model_of

from triage.document import frame_to_json, from_json, to_json, write_json
from triage.model import (
    Analysis,
    Frame,
    FrameKind,
    GilState,
    Source,
    SourceKind,
    Thread,
    replace,
)


def analysis_to_json(analysis: Analysis, error: str | None = None) -> dict[str, Any]:
    return to_json(replace(analysis, error=error))


def test_document(core_dict: dict[str, Any]) -> None:
    doc = analysis_to_json(model_of(core_dict))
    assert doc["schema"] == 1
    assert doc["source"] == {
        "kind": "core",
        "path": "/spool/core.100",
        "executable": "/usr/bin/python3.12",
        "executable_from_core": True,
        "compression": None,
    }
    process = doc["process"]
    assert {k: process[k] for k in ("pid", "ppid", "argv", "uid", "gid")} == {
        "pid": 100,
        "ppid": 1,
        "argv": ["python3.12", "app.py", "--port", "80"],
        "uid": 1000,
        "gid": 1001,
    }
    assert process["signal"] == {"number": 11, "name": "SIGSEGV"}
    assert process["python_version"] == "3.12.1"
    assert process["fault_address"] == "0x10"
    assert process["crashed"] is True
    worker, main = doc["threads"]
    assert {k: worker[k] for k in ("tid", "python", "crashed", "gil", "gc")} == {
        "tid": 101,
        "python": True,
        "crashed": False,
        "gil": None,
        "gc": False,
    }
    assert (main["tid"], main["crashed"], main["gil"], main["gc"]) == (100, True, "held", True)
    assert main["frames"] == [
        {
            "kind": "python",
            "file": "/app/server.py",
            "line": 30,
            "function": "<module>",
            "qualname": "<module>",
            "first_line": 1,
            "is_entry": True,
        },
        {
            "kind": "python",
            "file": "/app/server.py",
            "line": None,
            "function": "handle",
            "qualname": "Server.handle",
            "first_line": 15,
            "is_entry": False,
        },
    ]
    assert doc["missing_libraries"] == [] and doc["warnings"] == []
    assert doc["error"] is None


def test_no_signal_and_unnamed_signal(core_dict: dict[str, Any]) -> None:
    core_dict["core"].update(signal=0, si_code=0, fault_address=None)
    assert analysis_to_json(model_of(core_dict))["process"]["signal"] is None
    core_dict["core"]["signal"] = 45
    signal = analysis_to_json(model_of(core_dict))["process"]["signal"]
    assert signal == {"number": 45, "name": "SIG45"}


def test_not_python(core_dict: dict[str, Any]) -> None:
    core_dict.update(python_version=None, python_error="not Python", threads=[])
    core_dict["missing_libraries"] = ["/lib/libpython3.12.so.1.0"]
    doc = analysis_to_json(model_of(core_dict), error="not Python")
    assert doc["process"]["python_version"] is None
    assert doc["threads"] == []
    assert doc["missing_libraries"] == ["/lib/libpython3.12.so.1.0"]
    assert doc["error"] == "not Python"


def test_native_frame_fields() -> None:
    frame = Frame(
        kind=FrameKind.NATIVE,
        function="time_sleep",
        file="Modules/timemodule.c",
        line=383,
        library="libpython3.12.so.1.0",
        address=0x7F0012,
        offset=0x12,
    )
    assert frame_to_json(frame) == {
        "kind": "native",
        "file": "Modules/timemodule.c",
        "line": 383,
        "function": "time_sleep",
        "library": "libpython3.12.so.1.0",
        "address": "0x7f0012",
        "offset": "0x12",
        "library_path": None,
        "inlined": False,
    }


def test_write_json_is_ascii_and_parses() -> None:
    frame = Frame(kind=FrameKind.PYTHON, function="café\x1b", file="/dír/中.py", line=1)
    analysis = Analysis(
        source=Source(kind=SourceKind.CORE, path="/c"), threads=(Thread(1, (frame,)),)
    )
    out = io.StringIO()
    write_json(analysis, out)
    text = out.getvalue()
    assert text.isascii() and text.endswith("}\n")
    parsed = json.loads(text)
    assert parsed["threads"][0]["frames"][0]["function"] == "café\x1b"
    assert parsed["process"] == {"python_version": None}


def test_round_trip(core_dict: dict[str, Any]) -> None:
    analysis = model_of(core_dict)
    assert from_json(json.loads(json.dumps(to_json(analysis)))) == analysis


def test_round_trip_with_locals_native_frames_and_columns() -> None:
    python = Frame(
        kind=FrameKind.PYTHON,
        function="f",
        file="/a.py",
        line=3,
        qualname="C.f",
        first_line=1,
        is_entry=True,
        column=4,
        end_line=3,
        end_column=9,
        arguments=(("self", "<C at 0x1>"), ("x", "1")),
        locals=(("y", "'z'"),),
    )
    native = Frame(
        kind=FrameKind.NATIVE,
        function="g",
        file=None,
        line=None,
        library="libx.so",
        address=0x7F00,
        offset=0x100,
        library_path="/lib/libx.so",
        inlined=True,
        column=2,
    )
    thread = Thread(7, (python, native), GilState.WAITING, True, name="worker-1")
    analysis = Analysis(
        source=Source(SourceKind.PROCESS, "7", "/usr/bin/python3"),
        threads=(thread,),
        stopped_seconds=0.002,
        error="boom",
    )
    assert from_json(to_json(analysis)) == analysis


@pytest.mark.parametrize(
    "document",
    [
        None,
        [],
        {},
        {"threads": "x"},
        {"threads": [{"tid": "1", "gil": "maybe", "frames": [{"kind": "native"}, 3]}]},
        {"process": {"pid": 1, "signal": "SIGSEGV", "tids": [1, "2"], "fault_address": "zz"}},
        {"source": {"kind": "process", "path": 5}, "process": {"python_version": "3.x"}},
    ],
)
def test_odd_documents_are_read_not_raised(document: Any) -> None:
    analysis = from_json(document)
    assert isinstance(analysis, Analysis)


def test_python_name_round_trips_and_old_documents_have_none() -> None:
    thread = Thread(7, name="python3", python_name="Thread-3 (worker)")
    analysis = Analysis(source=Source(SourceKind.CORE, "/c"), threads=(thread,))
    document = to_json(analysis)
    assert document["threads"][0]["python_name"] == "Thread-3 (worker)"
    assert document["threads"][0]["name"] == "python3"
    assert from_json(json.loads(json.dumps(document))) == analysis
    # Written before the field existed, or without a name: no key, no name.
    del document["threads"][0]["python_name"]
    assert from_json(document).threads[0].python_name is None
    assert "python_name" not in to_json(from_json(document))["threads"][0]
    # Malformed: a container is no name.
    document["threads"][0]["python_name"] = ["x"]
    assert from_json(document).threads[0].python_name is None
