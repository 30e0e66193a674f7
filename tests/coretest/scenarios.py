"""The scenario programs, the crash modes, and the keys that name one core of the matrix."""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass
from pathlib import Path

from .interpreters import Interpreter

SOURCE_DIR = Path(__file__).resolve().parent.parent / "integration" / "scenarios"
CRASH_LINE = "crashkit.record() and crashkit.crash()"
PARK_LINE = re.compile(r"\barrive\(\) and (crashkit\.)?block\(\)")  # parked thread


@dataclass(frozen=True)
class Scenario:
    name: str
    script: str
    innermost: str  # function that crashes (a self-check of the recorded truth)
    args: tuple[str, ...] = ()
    directory: str = "plain"
    # False where PyStack 1.7.2 is known wrong, so only the recorded truth is an oracle.
    oracle: bool = True
    min_frames: int = 3
    threads: int = 1
    innermost_py2: str | None = None  # when Python 2 runs a different function

    def expected_innermost(self, version: tuple[int, ...]) -> str:
        if version[0] == 2 and self.innermost_py2:
            return self.innermost_py2
        return self.innermost


_UNICODE = {"innermost": "𐌰𐌱𐌲", "innermost_py2": "ascii_leaf", "oracle": False}
SCENARIOS: tuple[Scenario, ...] = (
    Scenario("nested", "nested.py", "innermost", min_frames=5),
    Scenario("threads", "threads.py", "crash_c", min_frames=7, threads=4),
    Scenario("recursion", "recursion.py", "bottom", ("300",), min_frames=300),
    # PyStack 1.7.2 segfaults at about 5,000 Python frames: only the truth is an oracle.
    Scenario(
        "deep_recursion",
        "recursion.py",
        "bottom",
        ("12000",),
        oracle=False,
        min_frames=12000,
        threads=2,
    ),
    # PyStack 1.7.2 drops or garbles frames with non-ASCII function names or file paths:
    # only the truth is an oracle.
    Scenario("unicode_latin1_dir", "unicode_names.py", directory="dír", **_UNICODE),
    Scenario("unicode_ucs2_dir", "unicode_names.py", directory="目录", **_UNICODE),
    Scenario("generators", "generators.py", "leaf_gen", min_frames=4),
    Scenario("callback", "callback.py", "fragile_key", min_frames=5),
    Scenario("methods", "methods.py", "<lambda>", min_frames=8),
)

# Crash mode -> (mode argument of the scenario, signal the kernel core must carry).
MODES: dict[str, tuple[str, int | None]] = {
    "abort": ("abort", signal.SIGABRT),
    "segv": ("segv", signal.SIGSEGV),
    "gcore": ("wait", None),
}
KERNEL_MODES = ("abort", "segv")


@dataclass(frozen=True)
class CoreKey:
    interpreter: Interpreter
    scenario: Scenario
    mode: str

    @property
    def id(self) -> str:
        return f"{self.interpreter.id}-{self.scenario.name}-{self.mode}"

    @property
    def scenario_mode(self) -> str:
        return MODES[self.mode][0]

    @property
    def signal(self) -> int | None:
        return MODES[self.mode][1]


def matrix(
    interpreters: tuple[Interpreter, ...],
    modes: tuple[str, ...] = tuple(MODES),
    oracle_only: bool = False,
) -> list[CoreKey]:
    """Every (interpreter, scenario, mode) combination, in a stable order."""
    return [
        CoreKey(interpreter, scenario, mode)
        for interpreter in interpreters
        for scenario in SCENARIOS
        if scenario.oracle or not oracle_only
        for mode in modes
    ]


def scenario(name: str) -> Scenario:
    return next(s for s in SCENARIOS if s.name == name)
