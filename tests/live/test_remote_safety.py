"""A blocking inspection leaves the process as it was; errors are one line and an exit code."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from coretest.interpreters import Interpreter, selected
from livekit import Target, run_triage, wait_for_state

CURRENT = (
    next(i for i in selected() if i.is_current)
    if any(i.is_current for i in selected())
    else selected()[-1]
)


def ticks(target: Target) -> int:
    assert target.process.stdin is not None
    target.process.stdin.write("?\n")
    target.process.stdin.flush()
    while True:
        line = target.readline(timeout=10)
        if line.startswith("ticks "):
            return int(line.split()[1])


def wait_for_line(target: Target, wanted: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if target.readline(timeout=max(0.1, deadline - time.monotonic())) == wanted:
            return
    raise AssertionError(f"target never printed {wanted!r}")


@pytest.mark.parametrize("when", ["before", "during"])
def test_signal_sent_around_the_inspection_is_delivered(
    interp: Interpreter, target_factory: object, tmp_path: Path, when: str
) -> None:
    target = target_factory(interp, "signal")  # type: ignore[operator]
    for _ in range(3):
        if when == "before":
            os.kill(target.pid, signal.SIGUSR1)
            result = run_triage("remote", str(target.pid), cwd=tmp_path)
        else:
            timer = threading.Timer(0.02, os.kill, (target.pid, signal.SIGUSR1))
            timer.start()
            result = run_triage("remote", str(target.pid), "--native", cwd=tmp_path)
            timer.join()
        assert result.returncode == 0, result.stderr
        wait_for_line(target, "got-signal")
    before = ticks(target)
    time.sleep(0.2)
    assert ticks(target) > before, "the process must keep running after the inspection"


def test_stopped_process_stays_stopped(target_factory: object, tmp_path: Path) -> None:
    target = target_factory(CURRENT, "signal")  # type: ignore[operator]
    os.kill(target.pid, signal.SIGSTOP)
    assert wait_for_state(target.pid, "T") == "T"
    result = run_triage("remote", str(target.pid), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    time.sleep(0.2)
    assert wait_for_state(target.pid, "T", timeout=1) == "T", "a job-control stop must hold"
    os.kill(target.pid, signal.SIGCONT)
    before = ticks(target)
    time.sleep(0.2)
    assert ticks(target) > before


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_no_such_process(tmp_path: Path) -> None:
    child = subprocess.Popen(["true"])
    child.wait()
    assert_one_line_error(run_triage("remote", str(child.pid), cwd=tmp_path), 3, "no such process")


def test_not_a_python_process(tmp_path: Path) -> None:
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        for flags in ((), ("--no-block",)):
            result = run_triage("remote", str(sleeper.pid), *flags, cwd=tmp_path)
            assert_one_line_error(result, 1, "not a Python process")
    finally:
        sleeper.kill()
        sleeper.wait()


def test_zombie(tmp_path: Path) -> None:
    child = subprocess.Popen(["true"])  # not waited for: a zombie until we reap it
    try:
        assert wait_for_state(child.pid, "Z") == "Z"
        assert_one_line_error(run_triage("remote", str(child.pid), cwd=tmp_path), 3, "zombie")
    finally:
        child.wait()


TRACER = textwrap.dedent(
    """
    import ctypes, sys, time
    libc = ctypes.CDLL(None, use_errno=True)
    PTRACE_SEIZE = 0x4206
    if libc.ptrace(PTRACE_SEIZE, int(sys.argv[1]), None, None) != 0:
        sys.exit("seize failed: %d" % ctypes.get_errno())
    print("attached", flush=True)
    time.sleep(60)
    """
)


def test_another_tracer_is_named(target_factory: object, tmp_path: Path) -> None:
    target = target_factory(CURRENT, "signal")  # type: ignore[operator]
    tracer = subprocess.Popen(
        [sys.executable, "-c", TRACER, str(target.pid)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert tracer.stdout is not None and tracer.stdout.readline().strip() == "attached"
        result = run_triage("remote", str(target.pid), cwd=tmp_path)
        assert_one_line_error(result, 3, f"another tracer (pid {tracer.pid})")
    finally:
        tracer.kill()
        tracer.wait()
        if tracer.stdout is not None:
            tracer.stdout.close()


NOBODY = 65534
SYSTEM_PYTHON = "/usr/bin/python3"


def test_permission_denied_says_why(tmp_path: Path) -> None:
    """Root without CAP_SYS_PTRACE may not trace another user's process."""
    if os.geteuid() != 0 or not os.path.exists(SYSTEM_PYTHON):
        pytest.skip("needs root and Debian's python3 (readable by user nobody)")
    drop_privileges = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    target = subprocess.Popen(
        [*drop_privileges, SYSTEM_PYTHON, "-c", "print('ready', flush=True); input()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd="/",
    )
    try:
        assert target.stdout is not None and target.stdout.readline().strip() == "ready"
        result = subprocess.run(
            ["setpriv", "--bounding-set=-sys_ptrace", sys.executable, "-m", "triage", "remote"]
            + [str(target.pid)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert_one_line_error(result, 3, "permission denied")
        assert f"belongs to uid {NOBODY}" in result.stderr
    finally:
        target.kill()
        target.wait()
        for stream in (target.stdin, target.stdout):
            if stream is not None:
                stream.close()
