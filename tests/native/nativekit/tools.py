"""Running ``python -m triage`` and PyStack 1.7.2, and reading their text output."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .memo import Memo

TOOL_TIMEOUT = 180.0
# Someone may be reinstalling the package while the tests run: an ImportError from a
# half-written module is retried a few times before it counts as a failure.
IMPORT_RETRIES = 4
IMPORT_RETRY_DELAY = 20.0
VENV_PYSTACK = Path(sys.executable).with_name("pystack")
RETRIED: list[str] = []  # commands retried after an ImportError (told at the end of the run)


@dataclass(frozen=True)
class ToolResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def describe(self) -> str:
        return (
            f"$ {' '.join(self.argv)}\nexit {self.returncode} after {self.seconds:.2f}s\n"
            f"--- stderr ---\n{self.stderr[-3000:]}\n--- stdout ---\n{self.stdout[-6000:]}"
        )

    def json(self) -> dict[str, Any]:
        assert self.returncode == 0, self.describe()
        document: dict[str, Any] = json.loads(self.stdout)
        return document


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> ToolResult:
    started = time.monotonic()
    completed = subprocess.run(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
        timeout=TOOL_TIMEOUT,
    )  # fmt: skip
    return ToolResult(
        tuple(argv),
        completed.returncode,
        completed.stdout.decode("utf-8"),
        completed.stderr.decode("utf-8", errors="replace"),
        time.monotonic() - started,
    )


def _half_installed(result: ToolResult) -> bool:
    return result.returncode != 0 and (
        "ImportError" in result.stderr or "ModuleNotFoundError" in result.stderr
    )


def pystack_command() -> list[str] | None:
    if VENV_PYSTACK.is_file():
        return [str(VENV_PYSTACK)]
    found = shutil.which("pystack")
    return [found] if found else None


class Tools:
    """Runs the tools from a scratch directory, so the source tree is never imported."""

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self._on_cores: Memo[ToolResult] = Memo()

    def triage(self, *args: str) -> ToolResult:
        argv = [sys.executable, "-m", "triage", *args]
        env = dict(os.environ, NO_COLOR="1")
        env.pop("PYTHONPATH", None)
        result = run(argv, self.workdir, env)
        for _ in range(IMPORT_RETRIES):
            if not _half_installed(result):
                break
            RETRIED.append(f"{' '.join(args)}: {result.stderr.strip().splitlines()[-1:]}")
            time.sleep(IMPORT_RETRY_DELAY)
            result = run(argv, self.workdir, env)
        return result

    def triage_json(self, *args: str) -> dict[str, Any]:
        return self.triage(*args, "--json").json()

    def triage_core(self, core: Path, *flags: str) -> ToolResult:
        """``triage core CORE FLAGS...``, run once per session (a core does not change)."""
        return self._on_cores.get(
            ("triage", core, flags), lambda: self.triage("core", str(core), *flags)
        )

    def triage_core_json(self, core: Path, *flags: str) -> dict[str, Any]:
        return self.triage_core(core, *flags, "--json").json()

    def pystack_core(self, core: Path, *flags: str) -> ToolResult:
        """``pystack core CORE FLAGS...``, run once per session."""
        return self._on_cores.get(
            ("pystack", core, flags), lambda: self.pystack("core", str(core), *flags)
        )

    def pystack(self, *args: str) -> ToolResult:
        command = pystack_command()
        assert command is not None, "pystack is not installed"
        env = dict(os.environ, NO_COLOR="1")
        return run([*command, *args], self.workdir, env)


# --- text output (PyStack's format, which triage copies) ---

_THREAD = re.compile(
    r"^Traceback for thread (?P<tid>\d+) (?:\((?P<name>[^)]*)\) )?(?P<status>\[[^\]]*\]) "
)
_EMPTY = re.compile(r"^The frame stack for thread (?P<tid>\d+) is empty")
_NATIVE = re.compile(
    r'^    \(C\) File "(?P<file>.*)", line (?P<line>\d+), in (?P<function>.*?)'
    r"(?P<inlined> \(inlined\))? \((?P<library>[^()]*)\)$"
)
_PYTHON = re.compile(
    r'^    \(Python\) File "(?P<file>.*)", line (?P<line>\d+), in (?P<function>.*)$'
)


@dataclass(frozen=True)
class TextFrame:
    kind: str  # "native" or "python"
    function: str
    file: str
    line: int
    inlined: bool = False
    library: str = ""  # basename: PyStack prints full paths for live processes


@dataclass
class TextThread:
    tid: int
    status: str
    frames: list[TextFrame]

    def functions(self) -> list[str]:
        """The frames as ``(C) name[ (inlined)]`` / ``(Python) name``, outermost first."""
        return [
            f"(C) {f.function}{' (inlined)' if f.inlined else ''}"
            if f.kind == "native"
            else f"(Python) {f.function}"
            for f in self.frames
        ]


def parse_threads(text: str) -> dict[int, TextThread]:
    """Every thread of a text report by tid, with its frames (source lines skipped)."""
    threads: dict[int, TextThread] = {}
    current: TextThread | None = None
    for line in text.splitlines():
        if match := _THREAD.match(line):
            tid = int(match["tid"])
            current = threads.setdefault(tid, TextThread(tid, match["status"], []))
        elif match := _EMPTY.match(line):
            current = threads.setdefault(int(match["tid"]), TextThread(int(match["tid"]), "", []))
        elif current is not None and (match := _NATIVE.match(line)):
            current.frames.append(
                TextFrame(
                    "native",
                    match["function"],
                    os.path.basename(match["file"])
                    if match["function"] == "???"
                    else match["file"],
                    int(match["line"]),
                    bool(match["inlined"]),
                    os.path.basename(match["library"]),
                )
            )
        elif current is not None and (match := _PYTHON.match(line)):
            current.frames.append(
                TextFrame("python", match["function"], match["file"], int(match["line"]))
            )
    return threads
