"""PyStack-compatible text output, line for line (PyStack's typos included)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from coretest.models import model_of

from triage.model import Analysis, CoreInfo, Frame, Source, Thread, replace
from triage.render.source import SourceCache
from triage.render.style import Palette
from triage.render.text import (
    failure_line,
    header_lines,
    thread_lines,
    thread_status,
    write_text,
)

PLAIN = Palette(False)
COLOR = Palette(True)


def _render(analysis: Analysis, color: bool = False) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    write_text(analysis, out, err, color=color)
    return out.getvalue(), err.getvalue()


def _core(**changes: Any) -> CoreInfo:
    base = CoreInfo(
        path="/c",
        pid=100,
        ppid=1,
        pgrp=100,
        sid=90,
        uid=1000,
        gid=1001,
        state="R",
        zombie=False,
        nice=0,
        fname="python3",
        psargs="python3 app.py ",
        signal=11,
        si_code=1,
        fault_address=0x10,
        tids=(100,),
    )
    return replace(base, **changes)


def _py(function: str, file: str, line: int | None) -> Frame:
    return Frame(kind="python", function=function, file=file, line=line)


def test_whole_output(core_dict: dict[str, Any]) -> None:
    out, err = _render(model_of(core_dict))
    assert out == (
        "Using executable found in the core file: /usr/bin/python3.12\n"
        "\n"
        "Core file information:\n"
        "state: R zombie: False niceness: 0\n"
        "pid: 100 ppid: 1 sid: 90\n"
        "uid: 1000 gid: 1001 pgrp: 100\n"
        "executable: python3.12 arguments: python3.12 app.py --port 80 \n"
        "\n"
        "The process died due a segmentation fault accessing address: 0x10\n"
        "Traceback for thread 101 [] (most recent call last):\n"
        '    (Python) File "/app/worker.py", line 5, in run\n'
        "\n"
        "Traceback for thread 100 [Has the GIL,Garbage collecting] (most recent call last):\n"
        '    (Python) File "/app/server.py", line 30, in <module>\n'
        '    (Python) File "/app/server.py", line 0, in handle\n'
    )
    assert err == ""


def test_executable_line_only_when_taken_from_the_core(core_dict: dict[str, Any]) -> None:
    core_dict["executable_from_core"] = False
    lines = header_lines(model_of(core_dict), PLAIN)
    assert lines[0] == "" and lines[1] == "Core file information:"


def test_zombie_shows_the_real_flag() -> None:
    analysis = Analysis(source=Source(kind="core", path="/c"), core=_core(zombie=True, state="Z"))
    assert header_lines(analysis, PLAIN)[2] == "state: Z zombie: True niceness: 0"


FAULT = "due a segmentation fault accessing address: "
GOT = "due receiving signal "


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"fault_address": 0x7F00DEAD}, FAULT + "0x7f00dead"),
        ({"fault_address": 0}, FAULT + "0x0"),  # NULL dereference: PyStack said "signal"
        ({"signal": 7, "fault_address": 0x20}, FAULT + "0x20"),  # PyStack's wording for SIGBUS
        ({"si_code": 0, "fault_address": None, "sender_pid": 42}, GOT + "SIGSEGV sent by pid 42"),
        ({"signal": 6, "si_code": -6, "sender_pid": 100}, GOT + "SIGABRT sent by pid 100"),
        ({"signal": 6, "si_code": -1, "sender_pid": 100}, GOT + "SIGABRT"),  # SI_QUEUE
        ({"signal": 19, "si_code": 0x80, "fault_address": None}, GOT + "SIGSTOP"),  # gcore
        ({"signal": 11, "si_code": 0x80, "fault_address": None}, GOT + "SIGSEGV"),
        ({"signal": 11, "si_code": 0, "fault_address": 0x10}, GOT + "SIGSEGV"),  # kill -SEGV
        ({"signal": 40, "si_code": 0}, GOT + "SIG40"),
    ],
)
def test_failure_line(changes: dict[str, Any], expected: str) -> None:
    assert failure_line(_core(**changes), PLAIN) == f"The process died {expected}"


def test_failure_line_on_demand() -> None:
    assert failure_line(_core(signal=0, si_code=0, fault_address=None), PLAIN) == (
        "The core file seems to have been generated on demand (the process did not crash)"
    )


def test_header_colors() -> None:
    analysis = Analysis(source=Source(kind="core", path="/c"), core=_core())
    lines = header_lines(analysis, COLOR)
    assert lines[1] == "\033[34mCore file information:\033[0m"
    assert lines[2] == (
        "state: \033[32mR\033[0m zombie: \033[32mFalse\033[0m niceness: \033[32m0\033[0m"
    )
    assert lines[-1] == (
        "\033[33mThe process died due a segmentation fault accessing address: \033[0m"
        "\033[31m0x10\033[0m"
    )


def test_failure_line_colors_nest_like_pystack() -> None:
    line = failure_line(_core(si_code=0, fault_address=None, sender_pid=42), COLOR)
    assert line == (
        "\033[33mThe process died due receiving signal \033[31mSIGSEGV\033[0m"
        "\033[33m sent by pid \033[31m42\033[0m\033[0m\033[0m"
    )


@pytest.mark.parametrize(
    ("thread", "expected"),
    [
        (Thread(tid=1), "[]"),
        (Thread(tid=1, gil="held"), "[Has the GIL]"),
        (Thread(tid=1, gil="waiting"), "[Waiting for the GIL]"),
        (Thread(tid=1, gil="dropping", gc=True), "[Dropping the GIL,Garbage collecting]"),
        (Thread(tid=1, gil="held", gc=True), "[Has the GIL,Garbage collecting]"),
        (Thread(tid=1, gc=False), "[]"),
        (Thread(tid=0, gil="held"), "[Thread terminated,Has the GIL]"),
    ],
)
def test_thread_status(thread: Thread, expected: str) -> None:
    assert thread_status(thread) == expected


def test_empty_thread() -> None:
    lines = list(thread_lines(Thread(tid=7, gil="held"), PLAIN, SourceCache()))
    assert lines == ["The frame stack for thread 7 is empty"]


def test_frame_colors() -> None:
    thread = Thread(tid=7, frames=(_py("f", "<string>", 3),))
    assert list(thread_lines(thread, COLOR, SourceCache())) == [
        "Traceback for thread 7 [] (most recent call last):",
        '    \033[32m(Python)\033[0m File "<string>", line 3, in \033[33mf\033[0m',
    ]


def test_colors_off_by_default_in_write_text(core_dict: dict[str, Any]) -> None:
    out, _ = _render(model_of(core_dict))
    assert "\033[" not in out
    colored, _ = _render(model_of(core_dict), color=True)
    assert "\033[32m(Python)\033[0m" in colored


def test_control_characters_are_escaped() -> None:
    thread = Thread(tid=7, frames=(_py("bad\x1b[31m\nname", "/x\u202e/a\tb.py", 1),))
    lines = list(thread_lines(thread, PLAIN, SourceCache()))
    assert lines[1] == '    (Python) File "/x\\u202e/a\\tb.py", line 1, in bad\\x1b[31m\\nname'


def test_non_ascii_names_printed_as_they_are() -> None:
    thread = Thread(tid=7, frames=(_py("café_中文_🐍", "/tmp/dír/ü.py", 2),))
    line = list(thread_lines(thread, PLAIN, SourceCache()))[1]
    assert line == '    (Python) File "/tmp/dír/ü.py", line 2, in café_中文_🐍'


def test_multiple_interpreters() -> None:
    threads = (
        Thread(tid=5, gil="held", interpreter_id=0, frames=(_py("a", "<x>", 1),)),
        Thread(tid=5, interpreter_id=1, frames=(_py("b", "<y>", 2),)),
        Thread(tid=6, interpreter_id=None),
    )
    analysis = Analysis(source=Source(kind="core", path="/c"), threads=threads)
    out, _ = _render(analysis)
    assert out == (
        "Traceback for thread 5 (most recent call last):\n"
        "  In the main interpreter [Has the GIL]\n"
        '    (Python) File "<x>", line 1, in a\n'
        "  In interpreter 1 []\n"
        '    (Python) File "<y>", line 2, in b\n'
        "\n"
        "Traceback for thread 6 (most recent call last):\n"
        "  Not currently attached to any interpreter []\n"
    )


def test_warnings_go_to_stderr() -> None:
    threads = (
        Thread(tid=1, frames=(_py("a", "<x>", 1),), truncated=True, warnings=("frame 3: bad",)),
        Thread(tid=2),
    )
    analysis = Analysis(
        source=Source(kind="core", path="/c"), threads=threads, warnings=("odd\nnote",)
    )
    out, err = _render(analysis)
    assert "WARNING" not in out
    assert err == (
        "WARNING: odd\\nnote\n"
        "WARNING: thread 1: frame 3: bad\n"
        "WARNING: thread 1: stack truncated after 1 frames\n"
    )
    assert out.endswith("\nThe frame stack for thread 2 is empty\n")


def test_no_core_block_without_core_info() -> None:
    analysis = Analysis(source=Source(kind="process", path="123"))
    assert header_lines(analysis, PLAIN) == []


def test_python_name_follows_the_status() -> None:
    thread = Thread(
        tid=7, gil="held", name="python3", python_name="worker-1", frames=(_py("f", "<x>", 1),)
    )
    assert list(thread_lines(thread, PLAIN, SourceCache()))[0] == (
        'Traceback for thread 7 (python3) [Has the GIL] "worker-1" (most recent call last):'
    )
    # Quotes, backslashes and control characters cannot end or break the name.
    odd = replace(thread, name=None, python_name='a"b\\c\nd')
    assert list(thread_lines(odd, PLAIN, SourceCache()))[0] == (
        'Traceback for thread 7 [Has the GIL] "a\\"b\\\\c\\nd" (most recent call last):'
    )


def test_python_name_on_the_interpreter_line_with_several_interpreters() -> None:
    threads = (
        Thread(tid=5, interpreter_id=0, python_name="MainThread", frames=(_py("a", "<x>", 1),)),
        Thread(tid=5, interpreter_id=1, frames=(_py("b", "<y>", 2),)),
    )
    out, _ = _render(Analysis(source=Source(kind="core", path="/c"), threads=threads))
    assert out.splitlines()[:2] == [
        "Traceback for thread 5 (most recent call last):",
        '  In the main interpreter [] "MainThread"',
    ]
