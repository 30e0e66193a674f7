"""Session caches of built modules, crash cores and sleeping targets (used by the fixtures)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from .builds import PROGRAMS, BuildError, CxxBuilds
from .interpreters import Interpreter
from .memo import Memo
from .processes import READY_FD, Reaper, Target, crash_core, gcore, wait_all_sleeping

CRASH_MODES = {"segv": (0, signal.SIGSEGV), "abort": (1, signal.SIGABRT)}


def cxx_module(builds: CxxBuilds, interpreter: Interpreter) -> Path:
    """The directory of ``cxxcrash`` for INTERPRETER; skips when it cannot be built."""
    if not interpreter.has_headers:
        pytest.skip(f"{interpreter.id} has no Python.h (no development headers)")
    try:
        return builds.get(interpreter)
    except BuildError as error:
        pytest.fail(f"cxxcrash did not build for {interpreter.id}:\n{error}")


@dataclass
class CrashCores:
    """Kernel cores of ``cxx_callback.py``, one per (interpreter, mode, variant), made on first
    use or ahead by ``prefetch``."""

    root: Path
    builds: CxxBuilds
    reaper: Reaper
    pool: ThreadPoolExecutor | None = None

    def __post_init__(self) -> None:
        self._cores: Memo[Path] = Memo()
        self._jobs: Memo[None] = Memo(self.pool)

    def get(
        self,
        interpreter: Interpreter,
        mode: str,
        python: list[str] | None = None,
        env: dict[str, str] | None = None,
        variant: str = "plain",
    ) -> Path:
        """The core of INTERPRETER's run of the program in MODE; PYTHON/ENV replace the
        command and environment that start the interpreter (VARIANT names that setup)."""

        def make() -> Path:
            module = cxx_module(self.builds, interpreter)
            number, fatal = CRASH_MODES[mode]
            command = python or [interpreter.path, "-E", "-S"]
            argv = [*command, str(PROGRAMS / "cxx_callback.py"), str(module), str(number)]
            run_dir = self.root / interpreter.id / variant / mode
            return crash_core(self.reaper, argv, run_dir, fatal, env)

        return self._cores.get((interpreter.id, mode, variant), make)

    def prefetch(self, interpreter: Interpreter, mode: str, then: Callable[[Path], None]) -> None:
        """Make the plain core in the background, then run THEN on it (e.g. the analyses)."""

        def make() -> None:
            then(self.get(interpreter, mode))

        self._jobs.prefetch((interpreter.id, mode), make)


@dataclass
class Sleeper:
    """A live ``sleepers.py`` target and a gcore of it taken once it was asleep."""

    target: Target
    core: Path


@dataclass
class Sleepers:
    """One sleeping target per interpreter (and variant), started on first use."""

    root: Path
    reaper: Reaper

    def __post_init__(self) -> None:
        self._started: dict[tuple[str, str], Sleeper] = {}
        self._lock = threading.Lock()

    def get(
        self,
        interpreter: Interpreter,
        extra_args: tuple[str, ...] = (),
        python: list[str] | None = None,
        env: dict[str, str] | None = None,
        variant: str = "plain",
    ) -> Sleeper:
        key = (interpreter.id, variant)
        with self._lock:
            if key not in self._started:
                command = python or [interpreter.path, "-E", "-S"]
                argv = [*command, str(PROGRAMS / "sleepers.py"), READY_FD, *extra_args]
                run_dir = self.root / interpreter.id / variant
                target = self.reaper.start_ready(argv, run_dir, env)
                wait_all_sleeping(target.pid)
                self._started[key] = Sleeper(target, gcore(target.pid, run_dir / "core"))
            sleeper = self._started[key]
        if sleeper.target.process.poll() is not None:
            pytest.fail(
                f"the sleeping target {sleeper.target.pid} died:\n{sleeper.target.log_tail()}"
            )
        return sleeper
