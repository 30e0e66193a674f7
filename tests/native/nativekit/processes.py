"""Target processes: the ready handshake, kernel cores, gcore, and killing every one started."""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from coretest import processes as shared
from coretest.processes import child_setup, thread_states  # noqa: F401 - shared by the suites

READY_FD = "{ready_fd}"  # placeholder in an argv for the write end of the ready pipe
START_TIMEOUT = 60.0
GDB_TIMEOUT = 120.0
CORE_PATTERN = Path("/proc/sys/kernel/core_pattern")
# Set to 1 to make crash cores with gdb even where the kernel could (tests the fallback).
FORCE_GDB_ENV = "TRIAGE_NATIVE_TESTS_GDB_CORES"
PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)


class TargetError(Exception):
    """A target program did not reach the state a test needs."""


def wait_all_sleeping(pid: int, timeout: float = 10.0) -> None:
    """Like the shared helper, but a target that never settles fails the test here."""
    if not shared.wait_all_sleeping(pid, timeout):
        raise TargetError(
            f"pid {pid}: threads not all asleep after {timeout}s: {thread_states(pid)}"
        )


def target_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LC_ALL": "C.UTF-8",
        "LANG": "C.UTF-8",
    }
    env.update(extra or {})
    return env


@dataclass
class Target:
    """A started program; ``message`` is what it wrote on the ready pipe."""

    process: subprocess.Popen[bytes]
    run_dir: Path
    log: Path
    message: str = ""

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "<no log>"
        return "\n".join(text.splitlines()[-lines:]) or "<empty log>"


@dataclass
class Reaper:
    """Every process a test session starts; ``close`` kills and reaps those still running."""

    targets: list[Target] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(
        self, argv: list[str], run_dir: Path, env: dict[str, str] | None = None
    ) -> tuple[Target, int]:
        """Start ARGV in RUN_DIR with READY_FD replaced; returns the target and the read end
        of its ready pipe (the caller closes it)."""
        run_dir.mkdir(parents=True, exist_ok=True)
        read_fd, write_fd = os.pipe()
        log = run_dir / "target.log"
        try:
            with open(log, "wb") as out:
                process = subprocess.Popen(
                    [str(write_fd) if arg == READY_FD else arg for arg in argv],
                    cwd=run_dir,
                    env=target_env(env),
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
        target = Target(process, run_dir, log)
        with self.lock:
            self.targets.append(target)
        return target, read_fd

    def start_ready(
        self, argv: list[str], run_dir: Path, env: dict[str, str] | None = None
    ) -> Target:
        """Start ARGV and wait for its ``ready`` line; on any failure the target is killed."""
        target, read_fd = self.start(argv, run_dir, env)
        try:
            target.message = read_ready(target, read_fd)
        except BaseException:
            kill(target)
            raise
        finally:
            os.close(read_fd)
        return target

    def close(self) -> None:
        with self.lock:
            targets, self.targets = self.targets, []
        for target in targets:
            kill(target)


def read_ready(target: Target, read_fd: int, timeout: float = START_TIMEOUT) -> str:
    """The first line the target writes on the pipe, which must start with ``ready``."""
    deadline = time.monotonic() + timeout
    received = b""
    while b"\n" not in received:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TargetError(f"pid {target.pid}: no 'ready' after {timeout}s")
        readable, _, _ = select.select([read_fd], [], [], remaining)
        if not readable:
            continue
        chunk = os.read(read_fd, 256)
        if not chunk:
            code = target.process.wait(timeout=30)
            raise TargetError(
                f"pid {target.pid} exited ({code}) before 'ready':\n{target.log_tail()}"
            )
        received += chunk
    line = received.split(b"\n", 1)[0].decode()
    if not line.startswith("ready"):
        raise TargetError(f"pid {target.pid} wrote {line!r} instead of 'ready'")
    return line


def kill(target: Target) -> None:
    if target.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            target.process.kill()
    target.process.wait(timeout=60)


def is_core(path: Path) -> bool:
    """An ELF file of type ET_CORE."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(18)
    except OSError:
        return False
    return len(header) == 18 and header[:4] == b"\x7fELF" and header[16:18] == b"\x04\x00"


def kernel_cores_usable() -> bool:
    """False when the kernel pipes cores to a program, or when the fallback is forced."""
    if os.environ.get(FORCE_GDB_ENV) == "1":
        return False
    try:
        pattern = CORE_PATTERN.read_text().strip()
    except OSError:
        return False
    return bool(pattern) and not pattern.startswith("|")


def find_kernel_core(directory: Path, pid: int) -> Path | None:
    """The core the kernel wrote in DIRECTORY (``core`` or ``core.PID``), if any."""
    for name in (f"core.{pid}", "core"):
        if is_core(directory / name):
            return directory / name
    others = sorted(p for p in directory.iterdir() if p.name.startswith("core"))
    return next((p for p in others if is_core(p)), None)


def crash_core(
    reaper: Reaper,
    argv: list[str],
    run_dir: Path,
    expected_signal: int,
    env: dict[str, str] | None = None,
) -> Path:
    """Run ARGV until it dies of EXPECTED_SIGNAL and return the core of the crash: the
    kernel's, or (core_pattern is a pipe) one gdb writes when the signal stops the program."""
    if kernel_cores_usable():
        target, read_fd = reaper.start(argv, run_dir, env)
        os.close(read_fd)
        try:
            code = target.process.wait(timeout=START_TIMEOUT)
        except subprocess.TimeoutExpired:
            kill(target)
            raise TargetError(f"pid {target.pid} still running after {START_TIMEOUT}s") from None
        if code != -expected_signal:
            raise TargetError(
                f"pid {target.pid} ended with {code}, expected signal "
                f"{expected_signal}:\n{target.log_tail()}"
            )
        core = find_kernel_core(run_dir, target.pid)
        if core is not None:
            return core
    return gdb_crash_core(reaper, argv, run_dir / "gdb", expected_signal, env)


def gdb_crash_core(
    reaper: Reaper,
    argv: list[str],
    run_dir: Path,
    expected_signal: int,
    env: dict[str, str] | None = None,
) -> Path:
    """Run ARGV under gdb, and gcore it where the fatal signal stopped it."""
    gdb = shutil.which("gdb")
    if gdb is None:
        raise TargetError("the kernel writes no core here and gdb is not installed")
    core = run_dir / "core.gdb"
    command = [
        gdb, "-nx", "-batch",
        "-ex", "set startup-with-shell off",
        "-ex", "run",
        "-ex", f"gcore {core}",
        "-ex", "kill",
        "--args", *argv,
    ]  # fmt: skip
    target, read_fd = reaper.start(command, run_dir, env)
    os.close(read_fd)
    try:
        target.process.wait(timeout=GDB_TIMEOUT)
    finally:
        kill(target)
    name = signal.Signals(expected_signal).name
    if not is_core(core) or name not in target.log.read_text(errors="replace"):
        raise TargetError(f"gdb made no core of a {name}:\n{target.log_tail()}")
    return core


def gcore(pid: int, prefix: Path) -> Path:
    """``gcore -o PREFIX PID``: a core of a running process, which goes on running."""
    executable = shutil.which("gcore")
    if executable is None:
        raise TargetError("gcore (gdb) is not installed")
    result = subprocess.run(
        [executable, "-o", str(prefix), str(pid)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=GDB_TIMEOUT,
    )
    core = prefix.with_name(f"{prefix.name}.{pid}")
    if result.returncode != 0 or not is_core(core):
        output = (result.stdout + result.stderr).decode(errors="replace")[-2000:]
        raise TargetError(f"gcore {pid} failed ({result.returncode}):\n{output}")
    return core
