"""The analyzer under AddressSanitizer and UndefinedBehaviorSanitizer, without Python.

Runs only when TRIAGE_SANITIZED_DRIVER names native/tools/analyze_main built with
TRIAGE_SANITIZE=ON (``bash .ci/sanitize`` builds it and runs this file): every mode on real
cores of every selected interpreter, and on seeded mutations of them. Any report of a
sanitizer, an escaped exception or a string that is not UTF-8 fails the test.
"""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

import pytest
from coretest import interpreters
from coretest.cores import CoreFactory
from coretest.scenarios import CoreKey, scenario
from mutate import boundary_cuts, flips
from robustkit import get_core

DRIVER_ENV = "TRIAGE_SANITIZED_DRIVER"
SCENARIOS = ("nested", "threads")  # plus the suite's own cores, mutated
MUTANTS = 4  # per interpreter
SUPPRESSIONS = Path(__file__).resolve().parent / "lsan.supp"
UBSAN = {"UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:exitcode=87"}
NO_LEAKS = {**UBSAN, "ASAN_OPTIONS": "detect_leaks=0:exitcode=86"}
# Leak checks need full allocation stacks (libdw has no frame pointers, and the suppressions
# name the libdw entry point an allocation was made under): six times slower, so they run on
# the cores of one interpreter only.
LEAKS = {
    **UBSAN,
    "ASAN_OPTIONS": "detect_leaks=1:fast_unwind_on_malloc=0:exitcode=86",
    "LSAN_OPTIONS": f"suppressions={SUPPRESSIONS}:exitcode=88",
}


@pytest.fixture(scope="module")
def driver() -> Path:
    path = os.environ.get(DRIVER_ENV)
    if not path:
        pytest.skip(f"{DRIVER_ENV} is not set (see docs/robustness.md)")
    return Path(path)


def run_driver(driver: Path, cores: list[Path], options: dict[str, str]) -> None:
    completed = subprocess.run(
        [str(driver), "-q", *map(str, cores)],
        capture_output=True,
        text=True,
        errors="replace",
        env={**os.environ, **options},
        timeout=600,
    )
    report = completed.stdout[-4000:] + completed.stderr[-8000:]
    assert completed.returncode == 0, report
    assert "Sanitizer" not in completed.stderr and "runtime error" not in completed.stderr, report


def corpus(
    factory: CoreFactory, interpreter: interpreters.Interpreter, workdir: Path
) -> list[Path]:
    """The scenario cores of INTERPRETER, then seeded mutations of the first one."""
    cores = [
        get_core(factory, CoreKey(interpreter, scenario(name), "abort")).core for name in SCENARIOS
    ]
    rng = random.Random(f"sanitized-{interpreter.id}")
    mutations = rng.sample(boundary_cuts(cores[0]), MUTANTS // 2) + flips(
        cores[0], rng, MUTANTS - MUTANTS // 2
    )
    return cores + [m.write(cores[0], workdir / f"mutant-{i}") for i, m in enumerate(mutations)]


@pytest.mark.parametrize(
    "interpreter", interpreters.selected(), ids=[i.id for i in interpreters.selected()]
)
def test_corpus_and_mutants(
    driver: Path, core_factory: CoreFactory, interpreter: interpreters.Interpreter, tmp_path: Path
) -> None:
    run_driver(driver, corpus(core_factory, interpreter, tmp_path), NO_LEAKS)


def test_no_leaks(driver: Path, core_factory: CoreFactory, tmp_path: Path) -> None:
    interpreter = interpreters.current() or interpreters.selected()[-1]
    run_driver(driver, corpus(core_factory, interpreter, tmp_path)[::3], LEAKS)
