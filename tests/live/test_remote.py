"""``triage remote``: stacks, GIL/GC state and locals of live processes, blocking or not."""

from __future__ import annotations

import functools
import glob
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from coretest.interpreters import Interpreter
from livekit import Target, run_triage

FRAME = re.compile(r'^\s+\(Python\) File "(.*)", line (\d+), in (.*)$')


@functools.cache
def has_symbols(interp: Interpreter) -> bool:
    """Whether the interpreter's code (libpython, else the executable) keeps its .symtab."""
    libs = glob.glob(str(Path(interp.path).resolve().parents[1] / "lib" / "libpython*.so.1.0"))
    path = libs[0] if libs else str(Path(interp.path).resolve())
    sections = subprocess.run(["readelf", "-S", "-W", path], capture_output=True, text=True)
    return ".symtab" in sections.stdout


def python_stacks(document: dict) -> list[list[tuple[str, str, int]]]:
    return [
        [(f["file"], f["function"], f["line"]) for f in t["frames"] if f["kind"] == "python"]
        for t in document["threads"]
    ]


def remote_json(target: Target, tmp_path: Path, *flags: str) -> dict:
    result = run_triage("remote", str(target.pid), "--json", *flags, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def text_stacks(text: str) -> list[list[tuple[str, str, int]]]:
    stacks: list[list[tuple[str, str, int]]] = []
    for line in text.splitlines():
        if line.startswith("Traceback for thread"):
            stacks.append([])
        elif (match := FRAME.match(line)) and stacks:
            stacks[-1].append((match[1], match[3], int(match[2])))
    return stacks


@pytest.mark.parametrize("blocking", [True, False], ids=["block", "no-block"])
def test_frames_match_what_the_process_knows(
    interp: object, target_factory: object, tmp_path: Path, blocking: bool
) -> None:
    target = target_factory(interp, "threads")  # type: ignore[operator]
    flags = () if blocking else ("--no-block",)
    document = remote_json(target, tmp_path, *flags)
    assert document["source"]["kind"] == "process"
    assert sorted(python_stacks(document)) == sorted(target.truth)
    assert target.process.poll() is None, "the target must keep running"


def test_same_frames_as_pystack(interp: object, target_factory: object, tmp_path: Path) -> None:
    target = target_factory(interp, "threads")  # type: ignore[operator]
    ours = run_triage("remote", str(target.pid), "--no-color", cwd=tmp_path)
    theirs = subprocess.run(
        [sys.executable, "-m", "pystack", "remote", str(target.pid), "--no-color"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ours.returncode == 0, ours.stderr
    assert theirs.returncode == 0, theirs.stderr
    assert sorted(text_stacks(ours.stdout)) == sorted(text_stacks(theirs.stdout))


def test_gil_holder_and_waiters(interp: object, target_factory: object, tmp_path: Path) -> None:
    target = target_factory(interp, "gil")  # type: ignore[operator]
    deadline = time.monotonic() + 30
    while True:  # until the three spinners have started
        document = remote_json(target, tmp_path)
        spinners = [
            t for t in document["threads"] if any(f["function"] == "spin" for f in t["frames"])
        ]
        if len(spinners) == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(spinners) == 3
    states = sorted(str(t["gil"]) for t in spinners)
    # One spinner runs; a hand-over caught in the middle shows as "dropping" instead.
    assert states.count("held") + states.count("dropping") >= 1, states
    if target.interpreter.version >= (3, 2) and has_symbols(target.interpreter):
        # take_gil exists from 3.2; without a symbol table its address is unknown.
        assert states.count("waiting") >= 1, states


def test_thread_collecting_garbage_without_the_gil(
    interp: object, target_factory: object, tmp_path: Path
) -> None:
    target = target_factory(interp, "gc")  # type: ignore[operator]
    if not has_symbols(target.interpreter):
        pytest.skip("the collector's functions are static: invisible without a symbol table")
    for flags in ((), ("--no-block",)):
        document = remote_json(target, tmp_path, *flags)
        seen = [(t["tid"], t["gc"]) for t in document["threads"]]
        collecting = [t for t in document["threads"] if t["gc"]]
        if flags:
            # Without stopping, nothing can be unwound: a stale collector address on another
            # thread's stack makes both unknown (None), never both collecting.
            assert len(collecting) <= 1, (flags, seen)
            if not collecting:
                assert [gc for _, gc in seen].count(None) >= 2, (flags, seen)
                continue
        assert len(collecting) == 1, (flags, seen)
        assert any(f["function"] == "on_collected" for f in collecting[0]["frames"])


EXPECTED_LOCALS = {
    "number": "1",
    "big": "-1267650600228229401496703205376",
    "ratio": "0.1",
    "one": "(1,)",
    "nested": "[1, [2, None]]",
    "nothing": "None",
}


def test_locals_of_every_kind(interp: object, target_factory: object, tmp_path: Path) -> None:
    target = target_factory(interp, "locals")  # type: ignore[operator]
    document = remote_json(target, tmp_path, "--locals")
    frame = next(
        f for t in document["threads"] for f in t["frames"] if f["function"] == "with_locals"
    )
    values = frame["locals"]
    py2 = target.interpreter.version < (3, 0)
    expected = dict(EXPECTED_LOCALS)
    expected["big"] += "L" if py2 else ""
    expected["text"] = "'two'"
    expected["rest"] = "(3,)"
    expected["options"] = "{'four': 4}"
    expected["raw"] = "'\\x00ab\\xff'" if py2 else "b'\\x00ab\\xff'"
    for name, value in expected.items():
        assert values[name] == value, name
    assert frame["arguments"] == ["number", "text", "rest", "options"]
    assert values["mapping"] in ("{'k': 1.5, 2: (True, False)}", "{2: (True, False), 'k': 1.5}")
    if not py2:
        assert values["unicode_text"] == "'café 中文'"
    names = list(values)
    assert names.index("big") < names.index("ratio") < names.index("one"), "frame order"
