"""Making real cores of scenario programs: kernel cores at the crash, or gcore of a live one.

Cores are cached per (interpreter, scenario, mode) for the session. A small thread pool makes
the cores the collected tests will need ahead of them; ``get`` makes one at once when it was
not started yet, so a test never waits behind the queue.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from . import elf
from .processes import (
    READY_FD,
    ScenarioError,
    Spawned,
    spawn,
    wait_all_sleeping,
    wait_exit,
    wait_for_exe,
    wait_ready,
)
from .scenarios import SCENARIOS, SOURCE_DIR, CoreKey
from .truth import Truth, load_truth

CORE_PATTERN = Path("/proc/sys/kernel/core_pattern")
GCORE_TIMEOUT = 180.0


class GcoreMissing(Exception):
    """gcore (from gdb) is not installed."""


@dataclass(frozen=True)
class CoreCase:
    key: CoreKey
    core: Path
    truth: Truth
    kernel: bool  # written by the kernel at the crash (False: gcore of a live process)
    run_dir: Path
    spawner_tid: int  # the test thread that started the scenario

    @property
    def expected_ppid(self) -> int:
        """The ppid the core must carry (see elf.parent_id): a kernel core names the forking
        thread of the test process, gcore names the test process."""
        return self.spawner_tid if self.kernel else self.truth.ppid

    @property
    def expected_gil_holders(self) -> set[int | None]:
        """os.abort() keeps the GIL; ctypes (segv) and time.sleep (gcore) have released it."""
        return {self.truth.crashed_thread.tid} if self.key.mode == "abort" else set()


def stage_scripts(root: Path) -> Path:
    """Copy the scenario programs under every directory name the scenarios use."""
    for directory in {s.directory for s in SCENARIOS}:
        target = root / directory
        target.mkdir(parents=True, exist_ok=True)
        for source in SOURCE_DIR.glob("*.py"):
            shutil.copyfile(source, target / source.name)
    return root


def kernel_cores_usable() -> bool:
    """False when the kernel hands cores to a program (systemd-coredump, apport...)."""
    try:
        pattern = CORE_PATTERN.read_text().strip()
    except OSError:
        return False
    return bool(pattern) and not pattern.startswith("|")


def make_core(key: CoreKey, scripts: Path, run_dir: Path) -> CoreCase:
    if key.mode != "gcore" and kernel_cores_usable():
        case = _kernel_core(key, scripts, run_dir)
        if case is not None:
            return case
        run_dir = run_dir / "gcore-fallback"
    return _gcore_core(key, scripts, run_dir)


def _command(key: CoreKey, scripts: Path, truth: Path, mode: str) -> list[str]:
    script = scripts / key.scenario.directory / key.scenario.script
    python = [key.interpreter.path, "-E", "-S", "-B"]
    return [*python, str(script), mode, str(truth), READY_FD, *key.scenario.args]


def _kernel_core(key: CoreKey, scripts: Path, run_dir: Path) -> CoreCase | None:
    run_dir.mkdir(parents=True, exist_ok=True)
    truth = run_dir / "truth.json"
    assert key.signal is not None
    with spawn(_command(key, scripts, truth, key.scenario_mode), cwd=run_dir) as spawned:
        wait_exit(spawned, key.signal)
        core = find_kernel_core(run_dir, spawned.pid)
    if core is None:
        return None
    recorded = _load(truth, spawned)
    return CoreCase(key, core, recorded, True, run_dir, threading.get_native_id())


def _gcore_core(key: CoreKey, scripts: Path, run_dir: Path) -> CoreCase:
    run_dir.mkdir(parents=True, exist_ok=True)
    truth = run_dir / "truth.json"
    with spawn(_command(key, scripts, truth, "wait"), cwd=run_dir) as spawned:
        wait_ready(spawned)
        # Best effort: the Python stacks are final once "ready" arrived (every thread is on
        # its crash or park line); this only lets the threads reach their blocking call.
        wait_all_sleeping(spawned.pid)
        core = gcore(spawned.pid, run_dir / "core")
        recorded = _load(truth, spawned)
    return CoreCase(key, core, recorded, False, run_dir, threading.get_native_id())


def _load(path: Path, spawned: Spawned) -> Truth:
    if not path.is_file():
        raise ScenarioError(f"pid {spawned.pid} wrote no truth file:\n{spawned.log_tail()}")
    return load_truth(path)


def find_kernel_core(directory: Path, pid: int) -> Path | None:
    """The core the kernel wrote in DIRECTORY (``core`` or ``core.PID``), if any."""
    for name in (f"core.{pid}", "core"):
        if elf.is_core(directory / name):
            return directory / name
    others = sorted(p for p in directory.iterdir() if p.name.startswith("core"))
    return next((p for p in others if elf.is_core(p)), None)


def gcore(pid: int, prefix: Path) -> Path:
    """Dump PID with ``gcore -o PREFIX PID``; the process keeps running."""
    executable = shutil.which("gcore")
    if executable is None:
        raise GcoreMissing("gcore is not installed")
    result = subprocess.run(
        [executable, "-o", str(prefix), str(pid)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=GCORE_TIMEOUT,
    )
    core = prefix.with_name(f"{prefix.name}.{pid}")
    if result.returncode != 0 or not elf.is_core(core):
        output = (result.stdout + result.stderr).decode(errors="replace")[-2000:]
        raise ScenarioError(f"gcore {pid} failed ({result.returncode}):\n{output}")
    return core


def make_native_core(argv: list[str], run_dir: Path) -> Path:
    """A core of a program that is not Python (killed with SIGABRT once it has exec'd)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    executable = shutil.which(argv[0]) or argv[0]
    with spawn([executable, *argv[1:]], cwd=run_dir) as spawned:
        wait_for_exe(spawned.pid, executable)
        if kernel_cores_usable():
            os.kill(spawned.pid, signal.SIGABRT)
            wait_exit(spawned, signal.SIGABRT)
            core = find_kernel_core(run_dir, spawned.pid)
            if core is not None:
                return core
            raise ScenarioError(f"no kernel core for {argv} in {run_dir}")
        return gcore(spawned.pid, run_dir / "core")


class CoreFactory:
    """Session cache of cores, made by a small thread pool ahead of the tests."""

    def __init__(self, root: Path, workers: int) -> None:
        self._root = root
        self._scripts = stage_scripts(root / "scripts")
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cores")
        self._futures: dict[CoreKey, Future[CoreCase]] = {}
        self._lock = threading.Lock()

    @property
    def root(self) -> Path:
        return self._root

    def run_dir(self, key: CoreKey) -> Path:
        return self._root / "cores" / key.interpreter.id / key.scenario.name / key.mode

    def prefetch(self, keys: list[CoreKey]) -> None:
        with self._lock:
            for key in keys:
                if key not in self._futures:
                    self._futures[key] = self._pool.submit(self._make, key)

    def get(self, key: CoreKey) -> CoreCase:
        with self._lock:
            future = self._futures.get(key)
            inline = future is None or future.cancel()
            if inline:
                future = self._futures[key] = Future()
        assert future is not None
        if inline:
            self._run_inline(key, future)
        return future.result()

    def _run_inline(self, key: CoreKey, future: Future[CoreCase]) -> None:
        try:
            future.set_result(self._make(key))
        except Exception as error:
            future.set_exception(error)
        finally:
            if not future.done():
                future.set_exception(RuntimeError(f"making {key.id} was interrupted"))

    def _make(self, key: CoreKey) -> CoreCase:
        return make_core(key, self._scripts, self.run_dir(key))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
