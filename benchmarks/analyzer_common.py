"""Shared helpers of the analyzer benchmarks (analyzer_core.py, analyzer_remote.py).

Standard library only. Every tool run is a fresh child process: its wall time is taken around
spawn and reap, and its peak RSS comes from ``os.wait4`` (the child's own ``ru_maxrss``, the
same figure ``getrusage(RUSAGE_CHILDREN)`` would give in a fresh wrapper process).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import platform
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
PYENV_VERSIONS = Path("/root/.pyenv/versions")
SYSTEM_PYTHON = Path("/usr/bin/python3")
PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)

Check = Callable[[bytes], bool]


# --------------------------------------------------------------------------------------------
# Interpreters and tools


def interpreters() -> list[Path]:
    """Every installed interpreter: the pyenv builds (oldest first), then the system python3."""
    found = [
        version / "bin" / "python"
        for version in sorted(PYENV_VERSIONS.glob("*"), key=_version_key)
        if (version / "bin" / "python").exists()
    ]
    if SYSTEM_PYTHON.exists():
        found.append(SYSTEM_PYTHON)
    return found


def _version_key(path: Path) -> tuple[int, ...]:
    parts = []
    for part in path.name.split("."):
        parts.append(int(part) if part.isdigit() else 0)
    return tuple(parts)


def default_interpreter() -> Path:
    """The interpreter used by --quick and by the remote target: the venv's base interpreter
    when it is one of the installed ones, else the newest installed one."""
    available = interpreters()
    base = Path(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))
    for candidate in available:
        if Path(os.path.realpath(candidate)) == base:
            return candidate
    if not available:
        raise SystemExit("no Python interpreter found")
    return available[-1]


def interpreter_label(python: Path) -> str:
    """'3.12.1' for a pyenv build, 'system 3.11.2' for /usr/bin/python3."""
    if python.parent.parent.parent == PYENV_VERSIONS:
        return python.parent.parent.name
    out = subprocess.run(
        [str(python), "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return f"system {out}"


def tool_path(name: str) -> str:
    """The console script NAME from the project's venv, else from PATH."""
    candidate = VENV_BIN / name
    return str(candidate) if candidate.exists() else name


def tool_env() -> dict[str, str]:
    """The tools' environment: UTF-8, no colors, no network look-ups of debug info."""
    env = dict(os.environ)
    env.pop("DEBUGINFOD_URLS", None)
    # An installed package has its bytecode compiled (pip writes it at install time): a shell
    # that forbids writing it would time Python's compiler on every run of the checkout's code.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update({"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "NO_COLOR": "1"})
    return env


def wait_for_triage(timeout: float = 600.0) -> None:
    """Others reinstall the package while we run: wait until ``triage --help`` works."""
    deadline = time.monotonic() + timeout
    while True:
        probe = subprocess.run(
            [tool_path("triage"), "--help"], capture_output=True, check=False, env=tool_env()
        )
        if probe.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise SystemExit("triage does not start: " + probe.stderr.decode(errors="replace"))
        log("triage does not start (package being reinstalled?); retrying in 30 s")
        time.sleep(30)


# --------------------------------------------------------------------------------------------
# Measured tool runs


@dataclass
class Run:
    """One run of one tool."""

    wall: float  # seconds, spawn to reap
    maxrss_kib: int  # peak RSS of the child (ru_maxrss from wait4)
    ok: bool
    error: str = ""
    stdout: bytes = field(default=b"", repr=False)
    cpu: float = float("nan")  # seconds of CPU (user + system) of the child, from wait4


class _Timeout(Exception):
    pass


def _on_alarm(signum: int, frame: object) -> None:
    raise _Timeout


def measure(argv: Sequence[str], timeout: float = 120.0, check: Check | None = None) -> Run:
    """Run ARGV once (stdout and stderr to files); wall time, peak RSS and success.

    A run succeeds when it exits 0 and CHECK (if given) accepts its stdout. A tool that cannot
    be started, times out or fails is recorded as a failed run, never raised."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            wall, status, maxrss, cpu = _spawn_and_reap(argv, out, err, timeout)
        except (OSError, _Timeout) as exc:
            reason = "timeout" if isinstance(exc, _Timeout) else str(exc)
            return Run(wall=float("nan"), maxrss_kib=0, ok=False, error=reason)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        return Run(wall, maxrss, False, f"exit {code}: {_last_line(stderr)}", stdout, cpu)
    if check is not None and not check(stdout):
        return Run(wall, maxrss, False, "unexpected output: " + _last_line(stdout), stdout, cpu)
    return Run(wall, maxrss, True, "", stdout, cpu)


# Failures of a package being reinstalled under us (a half-written module, a console script
# briefly absent): retried after a wait rather than recorded.
IMPORT_FAILURES = ("ImportError", "ModuleNotFoundError", "No module named", "[Errno 2]")
IMPORT_RETRIES = 3
IMPORT_RETRY_WAIT = 60.0


def import_failure(run: Run) -> bool:
    """True when the run failed because the package was being reinstalled under it."""
    return not run.ok and any(text in run.error for text in IMPORT_FAILURES)


def retrying(attempt: Callable[[], Run]) -> Run:
    """ATTEMPT (a measured run), retried after a wait when it failed on an import error."""
    for _ in range(IMPORT_RETRIES):
        run = attempt()
        if not import_failure(run):
            return run
        log(f"import error ({run.error}); retrying in {IMPORT_RETRY_WAIT:.0f} s")
        time.sleep(IMPORT_RETRY_WAIT)
    return attempt()


def _spawn_and_reap(
    argv: Sequence[str], out: Any, err: Any, timeout: float
) -> tuple[float, int, int, float]:
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    process: subprocess.Popen[bytes] | None = None
    try:
        start = time.perf_counter()
        process = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=tool_env()
        )
        signal.setitimer(signal.ITIMER_REAL, timeout)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        signal.setitimer(signal.ITIMER_REAL, 0)
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped: keep Popen quiet
        return wall, status, int(usage.ru_maxrss), usage.ru_utime + usage.ru_stime
    except _Timeout:
        if process is not None:
            process.kill()
            os.wait4(process.pid, 0)
            process.returncode = -9
        raise
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _last_line(data: bytes) -> str:
    lines = data.decode(errors="replace").strip().splitlines()
    return lines[-1][:200] if lines else "<no output>"


@dataclass
class Series:
    """All runs of one tool on one input, grouped by round."""

    rounds: list[list[Run]] = field(default_factory=list)

    def add(self, round_index: int, run: Run) -> None:
        while len(self.rounds) <= round_index:
            self.rounds.append([])
        self.rounds[round_index].append(run)

    def all_runs(self) -> list[Run]:
        return [run for runs in self.rounds for run in runs]

    def failures(self) -> list[str]:
        return [run.error for run in self.all_runs() if not run.ok]

    def round_medians(self, value: Callable[[Run], float] | None = None) -> list[float]:
        """Median of each round over its successful runs (NaN for a round without one)."""
        pick = value or (lambda run: run.wall)
        medians = []
        for runs in self.rounds:
            good = [pick(run) for run in runs if run.ok]
            medians.append(statistics.median(good) if good else float("nan"))
        return medians

    def best_median(self, value: Callable[[Run], float] | None = None) -> float:
        """The lower of the round medians: the figure least disturbed by other load."""
        return lower(self.round_medians(value))

    def peak_rss_mib(self) -> float:
        good = [run.maxrss_kib for run in self.all_runs() if run.ok]
        return max(good) / 1024 if good else float("nan")

    def summary(self) -> dict[str, Any]:
        return {
            "round_medians_s": self.round_medians(),
            "median_s": self.best_median(),
            "peak_rss_mib": self.peak_rss_mib(),
            "runs": [
                [{k: v for k, v in asdict(run).items() if k != "stdout"} for run in runs]
                for runs in self.rounds
            ],
            "failures": self.failures(),
        }


def lower(values: Sequence[float]) -> float:
    finite = [value for value in values if value == value]
    return min(finite) if finite else float("nan")


def ratio(numerator: float, denominator: float) -> float:
    if denominator != denominator or numerator != numerator or denominator == 0:
        return float("nan")
    return numerator / denominator


def rotated(items: Sequence[Any], shift: int) -> list[Any]:
    """ITEMS rotated by SHIFT: tools take turns going first, so none always runs cold."""
    shift %= max(len(items), 1)
    return list(items[shift:]) + list(items[:shift])


# --------------------------------------------------------------------------------------------
# Target processes


class Targets:
    """Target processes started by a benchmark: all killed and reaped by ``close``."""

    def __init__(self) -> None:
        self._processes: list[subprocess.Popen[bytes]] = []

    def start(self, argv: Sequence[str], cwd: Path, stdin: bool = False) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"},
            preexec_fn=_die_with_parent,
        )
        self._processes.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def close(self) -> None:
        for process in self._processes:
            self.stop(process)
        self._processes.clear()


def _die_with_parent() -> None:
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@contextlib.contextmanager
def targets() -> Iterator[Targets]:
    registry = Targets()
    try:
        yield registry
    finally:
        registry.close()


def read_line(process: subprocess.Popen[bytes], timeout: float) -> str:
    """One line from the target's stdout; raises RuntimeError on timeout or exit."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    if not ready:
        raise RuntimeError(f"pid {process.pid}: no answer within {timeout} s")
    line = process.stdout.readline()
    if not line:
        raise RuntimeError(f"pid {process.pid} exited ({process.wait()})")
    return line.decode().strip()


def wait_sleeping(pid: int, threads: int, sleeping: int, timeout: float = 30.0) -> None:
    """Poll until PID has THREADS threads of which at least SLEEPING sleep in the kernel."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = thread_states(pid)
        if len(states) == threads and sum(state in "SD" for state in states) >= sleeping:
            return
        time.sleep(0.02)
    raise RuntimeError(f"pid {pid}: threads not settled: {thread_states(pid)}")


def thread_states(pid: int) -> list[str]:
    states = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            states.append((task / "stat").read_text().rsplit(")", 1)[1].split()[0])
    return states


# --------------------------------------------------------------------------------------------
# Output


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fmt_seconds(value: float) -> str:
    return "fail" if value != value else f"{value:.3f}"


def fmt_ms(value: float) -> str:
    if value != value:
        return "—"
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


def fmt_ratio(value: float) -> str:
    return "—" if value != value else f"{value:.2f}"


def fmt_mib(value: float) -> str:
    return "fail" if value != value else f"{value:.0f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table (also readable on a terminal)."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"

    separator = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), separator, *(line(row) for row in rows)])


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                model = text.split(":", 1)[1].strip()
                break
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "loadavg": os.getloadavg(),
    }


def write_json(path: Path | None, data: dict[str, Any]) -> None:
    if path is not None:
        path.write_text(json.dumps(data, indent=2, default=str) + "\n")
        log(f"wrote {path}")
