"""Live targets that lose threads or die while they are inspected: a clean error or a
partial answer, never a crash of the analyzer."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from coretest import interpreters
from coretest.processes import child_setup, scenario_env

TARGET = Path(__file__).resolve().parent / "targets" / "vanishing.py"
KILLS = 12  # runs of the kill test; each stops a target at a random moment of the analysis


def current() -> interpreters.Interpreter:
    interpreter = interpreters.current()
    if interpreter is None:
        pytest.skip("sys.executable is not a usable CPython")
    return interpreter


class Live:
    def __init__(self, mode: str, cwd: Path) -> None:
        self.process = subprocess.Popen(
            [current().path, "-u", str(TARGET), mode],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env=scenario_env(),
            preexec_fn=child_setup,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == b"ready"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[list[Live]]:
    started: list[Live] = []
    yield started
    for target in started:
        target.stop()


def state_of(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def remote(pid: int, *flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "triage", "remote", str(pid), "--no-color", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def assert_clean(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=120)
    assert process.returncode in (0, 1, 3), (process.returncode, err)
    assert "Traceback" not in err and "unexpected" not in err, err
    if process.returncode != 0:
        assert len(err.strip().splitlines()) == 1, err
    return process.returncode, out, err


@pytest.mark.parametrize("flags", [(), ("--native", "--locals")], ids=["python", "native"])
def test_leader_exited_while_threads_run(
    live: list[Live], tmp_path: Path, flags: tuple[str, ...]
) -> None:
    target = Live("leader-exit", tmp_path)
    live.append(target)
    deadline = time.monotonic() + 10
    while state_of(target.process.pid) != "Z" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert state_of(target.process.pid) == "Z", "the main thread did not exit"
    code, out, err = assert_clean(remote(target.process.pid, *flags))
    assert code == 0, err
    assert out.count("sleeping_worker") >= 2, out


def wait_traced(pid: int, timeout: float = 30.0) -> bool:
    """True once the analyzer holds the target stopped (tracing stop, "t")."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if state_of(pid) == "t":
                return True
        except OSError:
            return False
        time.sleep(0.001)
    return False


def test_killed_during_native_analysis(live: list[Live], tmp_path: Path) -> None:
    """SIGKILL while the analyzer holds the target stopped: threads vanish under libdwfl."""
    rng = random.Random(7)
    failures = []
    for _ in range(KILLS):
        target = Live("busy", tmp_path)
        live.append(target)
        analysis = remote(target.process.pid, "--native", "--locals")
        if wait_traced(target.process.pid):
            time.sleep(rng.uniform(0.0, 0.04))
        target.process.send_signal(signal.SIGKILL)
        try:
            assert_clean(analysis)
        except AssertionError as error:
            failures.append(str(error).splitlines()[0])
        target.stop()
    assert not failures, f"{len(failures)} of {KILLS} runs:\n" + "\n".join(failures)
