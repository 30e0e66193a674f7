"""Live targets for ``triage remote`` tests: start one in a known state, talk to it, stop it."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from coretest import interpreters  # noqa: E402
from coretest.processes import child_setup, scenario_env  # noqa: E402

TARGET = Path(__file__).resolve().parent / "targets" / "live_target.py"
READY_TIMEOUT = 60.0


@dataclass
class Target:
    process: subprocess.Popen[str]
    interpreter: interpreters.Interpreter
    truth_file: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def truth(self) -> list[list[tuple[str, str, int]]]:
        stacks = json.loads(self.truth_file.read_text())
        return [[(f, fn, line) for f, fn, line in stack] for stack in stacks]

    def readline(self, timeout: float = READY_TIMEOUT) -> str:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError(f"target {self.pid} said nothing in {timeout} s")
        return self.process.stdout.readline().strip()


def start_target(interp: interpreters.Interpreter, mode: str, tmp: Path) -> Target:
    truth = tmp / f"truth-{mode}.json"
    process = subprocess.Popen(
        [interp.path, "-u", str(TARGET), mode, str(truth)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=tmp,
        env=scenario_env(),
        preexec_fn=child_setup,
    )
    target = Target(process, interp, truth)
    try:
        line = target.readline()
    except BaseException:
        stop(target)  # never leave a process (or its pipes) behind
        raise
    if line != "ready":
        stop(target)
        raise RuntimeError(f"target in mode {mode} under {interp.id} said {line!r}")
    return target


def stop(target: Target) -> None:
    if target.process.poll() is None:
        target.process.kill()
    target.process.wait(timeout=30)
    for stream in (target.process.stdin, target.process.stdout):
        if stream is not None:
            stream.close()


def run_triage(*args: str, cwd: Path, user: int | None = None) -> subprocess.CompletedProcess[str]:
    """The installed CLI, from a directory without the source tree (which lacks _native)."""
    return subprocess.run(
        [sys.executable, "-m", "triage", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        preexec_fn=(lambda: os.setuid(user)) if user is not None else None,
    )


def wait_for_state(pid: int, states: str, timeout: float = 10.0) -> str:
    """Poll /proc until the process is in one of ``states`` (e.g. "T" stopped)."""
    deadline = time.monotonic() + timeout
    state = "?"
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        if state in states:
            return state
        time.sleep(0.02)
    return state
