"""Starting scenario processes, the ready handshake, and never leaving one behind."""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PR_SET_PDEATHSIG = 1
READY_FD = "{ready_fd}"  # placeholder in a command line for the write end of the ready pipe
START_TIMEOUT = 120.0
_LIBC = ctypes.CDLL(None, use_errno=True)


class ScenarioError(Exception):
    """A scenario program did not reach the state the test needs."""


def child_setup() -> None:
    """preexec_fn: allow core dumps; die with the test process, so no orphan survives it."""
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
        resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def scenario_env() -> dict[str, str]:
    """A small, UTF-8 environment: non-ASCII paths decode the same on every version."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LC_ALL": "C.UTF-8",
        "LANG": "C.UTF-8",
    }


@dataclass
class Spawned:
    process: subprocess.Popen[bytes]
    ready_fd: int
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "<no log>"
        return "\n".join(text.splitlines()[-lines:]) or "<empty log>"


@contextlib.contextmanager
def spawn(argv: list[str], cwd: Path) -> Iterator[Spawned]:
    """Run ARGV in CWD (READY_FD replaced by the ready pipe); killed and reaped on exit."""
    read_fd, write_fd = os.pipe()
    log = cwd / "scenario.log"
    try:
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [str(write_fd) if arg == READY_FD else arg for arg in argv],
                cwd=cwd,
                env=scenario_env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                preexec_fn=child_setup,
            )
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    try:
        yield Spawned(process, read_fd, log)
    finally:
        reap(process)
        os.close(read_fd)


def reap(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=60)


def wait_ready(spawned: Spawned, timeout: float = START_TIMEOUT) -> None:
    """Block until the scenario wrote ``ready``; fail early if it exits first."""
    deadline = time.monotonic() + timeout
    received = b""
    while b"ready" not in received:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ScenarioError(f"pid {spawned.pid}: no 'ready' after {timeout}s")
        readable, _, _ = select.select([spawned.ready_fd], [], [], remaining)
        if not readable:
            continue
        chunk = os.read(spawned.ready_fd, 64)
        if not chunk:
            code = spawned.process.wait(timeout=60)
            raise ScenarioError(
                f"pid {spawned.pid} exited ({code}) before 'ready':\n{spawned.log_tail()}"
            )
        received += chunk


def wait_exit(spawned: Spawned, expected_signal: int, timeout: float = START_TIMEOUT) -> None:
    """Wait for the scenario to die from EXPECTED_SIGNAL."""
    try:
        code = spawned.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ScenarioError(f"pid {spawned.pid} still running after {timeout}s") from None
    if code != -expected_signal:
        raise ScenarioError(
            f"pid {spawned.pid} ended with {code}, expected signal {expected_signal}:\n"
            f"{spawned.log_tail()}"
        )


def wait_all_sleeping(pid: int, timeout: float = 10.0) -> bool:
    """Poll (bounded) until every thread of PID sleeps in the kernel; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = thread_states(pid)
        if states and all(state in "SD" for state in states):
            return True
        time.sleep(0.01)
    return False


def thread_states(pid: int) -> list[str]:
    states = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        states.append(stat.rsplit(")", 1)[1].split()[0])
    return states


def wait_for_exe(pid: int, executable: str, timeout: float = 30.0) -> None:
    """Poll (bounded) until PID has exec'd EXECUTABLE."""
    deadline = time.monotonic() + timeout
    wanted = os.path.realpath(executable)
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/exe") == wanted:
                return
        time.sleep(0.01)
    raise ScenarioError(f"pid {pid} did not exec {executable} within {timeout}s")
