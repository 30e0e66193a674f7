"""Byte-for-byte comparison with PyStack 1.7.2's own formatting functions (a test dependency)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from triage.model import Analysis, CoreInfo, Frame, Source, Thread
from triage.render.source import SourceCache
from triage.render.style import Palette
from triage.render.text import header_lines, threads_lines

pystack_cli = pytest.importorskip("pystack.__main__")
pystack_colors = pytest.importorskip("pystack.colors")
pystack_types = pytest.importorskip("pystack.types")
pystack_formatter = pytest.importorskip("pystack.traceback_formatter")
pystack_engine = pytest.importorskip("pystack.engine")


@pytest.fixture(params=[False, True], ids=["plain", "color"])
def color(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    monkeypatch.setattr(pystack_colors, "_is_stdout_a_tty", lambda: request.param)
    return bool(request.param)


# (si_signo, si_code, failed_addr, sender_pid): cases where PyStack gets the facts right.
FAILURES = [(11, 1, 0x7FFE1234, 0), (6, 0, 0, 4321), (19, 0x80, 0, 0), (0, 0, 0, 0)]


@pytest.mark.parametrize(("signo", "code", "addr", "sender"), FAILURES)
def test_header_matches_pystack(
    color: bool, signo: int, code: int, addr: int, sender: int, capsys: pytest.CaptureFixture[str]
) -> None:
    psinfo: dict[str, Any] = {
        "sname": ord("S"), "zomb": 1, "nice": -5, "pid": 10, "ppid": 1, "sid": 9, "uid": 0,
        "gid": 5, "pgrp": 10, "fname": "python3.11", "psargs": "/usr/bin/python3.11 -c pass ",
    }  # fmt: skip
    failure = {"si_signo": signo, "si_code": code, "failed_addr": addr, "sender_pid": sender}
    print(pystack_cli.format_psinfo_information(psinfo))
    print(pystack_cli.format_failureinfo_information(failure))
    expected = capsys.readouterr().out
    assert ("\033[" in expected) is color

    core = CoreInfo(
        path="/c", pid=10, ppid=1, pgrp=10, sid=9, uid=0, gid=5, state="S", zombie=True,
        nice=-5, fname="python3.11", psargs="/usr/bin/python3.11 -c pass ", signal=signo,
        si_code=code, fault_address=addr if code > 0 else None, sender_pid=sender or None,
    )  # fmt: skip
    analysis = Analysis(source=Source(kind="core", path="/c"), core=core)
    assert "\n".join(header_lines(analysis, Palette(color))) + "\n" == expected


def _pystack_thread(thread: Thread) -> Any:
    frames = []
    for frame in thread.frames:
        location = pystack_types.LocationInfo(frame.line or 0, frame.line or 0, 0, 0)
        code = pystack_types.PyCodeObject(frame.file or "???", frame.function, location)
        frames.append(pystack_types.PyFrame(None, None, code, {}, {}, True, False))
    for older, newer in zip(frames, frames[1:]):
        older.next, newer.prev = newer, older
    return pystack_types.PyThread(
        tid=thread.tid,
        frame=frames[0] if frames else None,
        native_frames=[],
        holds_the_gil=1 if thread.gil == "held" else 0,
        is_gc_collecting=1 if thread.gc else 0,
        python_version=(3, 11),
        interpreter_id=thread.interpreter_id,
    )


def _threads(tmp_path: Path) -> list[Thread]:
    source = tmp_path / "app.py"
    source.write_text("import time\n\ndef handle(x):\n\n    time.sleep(x)  # wait\n")
    app = str(source)
    return [
        Thread(tid=3, gil="held", gc=True, interpreter_id=0, frames=(
            Frame(kind="python", function="<module>", file=app, line=1),
            Frame(kind="python", function="handle", file=app, line=5),
            Frame(kind="python", function="handle", file=app, line=4),
            Frame(kind="python", function="gone", file=app, line=99),
            Frame(kind="python", function="<lambda>", file="<string>", line=1),
        )),
        Thread(tid=2, interpreter_id=0),
        Thread(tid=0, interpreter_id=0, frames=(
            Frame(kind="python", function="run", file=str(tmp_path / "missing.py"), line=7),
        )),
    ]  # fmt: skip


@pytest.mark.parametrize("interpreters", [False, True])
def test_threads_match_pystack(
    color: bool, interpreters: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    threads = _threads(tmp_path)
    if interpreters:  # a second interpreter on thread 3: one header, two interpreter lines
        extra = Thread(tid=3, interpreter_id=1, frames=threads[0].frames[:1])
        threads.insert(1, extra)
    pystack_formatter.print_threads(
        [_pystack_thread(t) for t in threads], pystack_engine.NativeReportingMode.OFF
    )
    expected = capsys.readouterr().out
    assert ("\033[" in expected) is color
    ours = [
        line for _, lines in threads_lines(threads, Palette(color), SourceCache()) for line in lines
    ]
    assert "\n".join(ours) + "\n" == expected
