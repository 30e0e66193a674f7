"""GIL flags that never lie: a thread that released the GIL to run C code (a ctypes foreign
call into libc, hashlib over 200 MB, select, a lock wait, a C extension that computes without
the GIL, numpy's dot in BLAS where numpy is installed) is neither "Waiting for" nor "Dropping"
the GIL, in a live process and in its gcore, with and without --native. Stale return addresses
into take_gil/drop_gil left on those threads' stacks used to be taken for live calls. Two
CPU-bound threads still show a real waiter.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from gilkit import PROGRAMS, build_extension
from nativekit.interpreters import Interpreter
from nativekit.processes import READY_FD, Reaper, Target, gcore, kill
from nativekit.tools import Tools

RELEASED = ["ctypes", "hashlib", "select", "lock", "extension", "numpy"]
FALSE_FLAGS = ("waiting", "dropping")
WAITER_TRIES = 8


def start(reaper: Reaper, interpreter: Interpreter, scenario: str, run_dir: Path) -> Target:
    extension = run_dir / "ext"
    if scenario == "extension":
        build_extension(interpreter, extension)
    argv = [
        interpreter.path,
        str(PROGRAMS / "gil_scenarios.py"),
        scenario,
        READY_FD,
        str(extension),
    ]
    return reaper.start_ready(argv, run_dir)


def has_module(interpreter: Interpreter, name: str) -> bool:
    probe = [interpreter.path, "-c", f"import {name}"]
    return subprocess.run(probe, capture_output=True, timeout=120).returncode == 0


def states(report: dict[str, Any]) -> dict[int, Any]:
    return {thread["tid"]: thread["gil"] for thread in report["threads"]}


@pytest.mark.parametrize("scenario", RELEASED)
def test_no_false_gil_flags(
    interpreter: Interpreter, scenario: str, reaper: Reaper, tools: Tools, lab: Path
) -> None:
    if scenario == "numpy" and not has_module(interpreter, "numpy"):
        pytest.skip(f"no numpy for {interpreter.id}")
    run_dir = lab / f"{interpreter.id}-{scenario}"
    target = start(reaper, interpreter, scenario, run_dir)
    try:
        seen: dict[str, dict[int, Any]] = {}
        for flags in [(), ("--native",)]:
            report = tools.triage_json("remote", str(target.pid), *flags)
            seen["remote " + " ".join(flags)] = states(report)
        core = gcore(target.pid, run_dir / "core")
        try:
            for flags in [(), ("--native",)]:
                report = tools.triage_json("core", str(core), *flags)
                seen["core " + " ".join(flags)] = states(report)
        finally:
            core.unlink()
    finally:
        kill(target)
    for how, threads in seen.items():
        assert len(threads) >= 2, (how, threads)
        # The worker is the thread under test. The main thread can really wait: it needs the GIL
        # back after saying "ready", from a worker whose hash holds it (no OpenSSL: 2.7, 3.6).
        wrong = {
            tid: gil for tid, gil in threads.items() if gil in FALSE_FLAGS and tid != target.pid
        }
        assert not wrong, f"{how}: {wrong} (all: {threads})"


def test_real_waiter_found(
    interpreter: Interpreter, reaper: Reaper, tools: Tools, lab: Path
) -> None:
    """Two threads that never release the GIL: the one without it waits in take_gil (2.7: in
    the eval loop's PyThread_acquire_lock), found without --native. Each snapshot is a moment,
    and a hand-over can be caught in between: a few tries are allowed."""
    target = start(reaper, interpreter, "cpu", lab / f"{interpreter.id}-cpu")
    try:
        found: list[dict[int, Any]] = []
        for _ in range(WAITER_TRIES):
            threads = states(tools.triage_json("remote", str(target.pid)))
            found.append(threads)
            if "waiting" in threads.values():
                break
            time.sleep(0.2)
    finally:
        kill(target)
    assert "waiting" in found[-1].values(), found
    # Never two holders, never a waiter that holds the GIL.
    for threads in found:
        assert list(threads.values()).count("held") <= 1, threads
