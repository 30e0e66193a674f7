"""Fixtures of the native-stack tests: built extensions, crash cores, live targets.

Everything is made during the run and cached for the session: the C++ module per interpreter,
the Rust library, kernel cores of the crash programs, and sleeping targets (each gcore'd once).
Every process started is killed at the end of the session, whether the tests passed or not.
Tests parametrized by ``interpreter`` run on every CPython found (pyenv versions, the system
python3 and sys.executable).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from nativekit import (
    fixtures,  # noqa: E402
    interpreters,  # noqa: E402
)
from nativekit.builds import CxxBuilds  # noqa: E402
from nativekit.interpreters import Interpreter  # noqa: E402
from nativekit.labs import CRASH_MODES, CrashCores, Sleepers  # noqa: E402
from nativekit.processes import Reaper  # noqa: E402
from nativekit.tools import RETRIED, Tools, pystack_command  # noqa: E402

reaper = fixtures.reaper  # session fixtures shared with the other nativekit suite
tools = fixtures.tools

KEEP_ENV = "TRIAGE_TEST_KEEP_CORES"
# What the tests of the crash cores ask triage for (prefetched in this order).
CRASH_ANALYSES = [
    ("--native", "--json"),
    ("--native-last", "--json"),
    ("--json",),
    ("--native", "--no-color"),
]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "interpreter" in metafunc.fixturenames:
        found = interpreters.selected()
        metafunc.parametrize("interpreter", found, ids=[i.id for i in found], scope="session")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if RETRIED:
        terminalreporter.write_line(
            f"tests/native: triage was retried {len(RETRIED)} time(s) after an ImportError "
            "(the package was being reinstalled):"
        )
        for line in RETRIED:
            terminalreporter.write_line(f"  {line}")


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The session's work directory; removed at the end (cores take ~2 GB) unless
    $TRIAGE_TEST_KEEP_CORES is 1."""
    root = tmp_path_factory.mktemp("nativelab")
    try:
        yield root
    finally:
        if os.environ.get(KEEP_ENV) != "1":
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def current_interpreter() -> Interpreter:
    return interpreters.current()


@pytest.fixture(scope="session")
def cxx_builds(lab: Path) -> Iterator[CxxBuilds]:
    builds = CxxBuilds(lab / "cxx")
    found = [i for i in interpreters.selected() if i.has_headers]
    builds.prefetch(sorted(found, key=lambda i: not i.is_current))  # the most used first
    try:
        yield builds
    finally:
        builds.close()


@pytest.fixture(scope="session")
def pool(reaper: Reaper) -> Iterator[ThreadPoolExecutor]:
    """Two workers that make cores and run the tools ahead of the tests (2 cores here)."""
    executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="native-prefetch")
    try:
        yield executor
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="session")
def crash_cores(
    lab: Path, cxx_builds: CxxBuilds, reaper: Reaper, pool: ThreadPoolExecutor, tools: Tools
) -> CrashCores:
    """The crash cores; those of every interpreter are made and analyzed ahead of the tests."""
    cores = CrashCores(lab / "crash", cxx_builds, reaper, pool)

    def analyze(core: Path) -> None:
        for flags in CRASH_ANALYSES:
            tools.triage_core(core, *flags)
        if pystack_command() is not None:
            tools.pystack_core(core, "--native")

    for interpreter in interpreters.selected():
        if interpreter.has_headers:
            for mode in sorted(CRASH_MODES):
                cores.prefetch(interpreter, mode, analyze)
    return cores


@pytest.fixture(scope="session")
def sleepers(lab: Path, reaper: Reaper) -> Sleepers:
    return Sleepers(lab / "sleepers", reaper)
