"""Running the analyzer under test (``triage``) and the oracle (``pystack``) on cores."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOOL_TIMEOUT = 300.0


@dataclass(frozen=True)
class ToolResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes
    seconds: float

    @property
    def out(self) -> str:
        """stdout as text; the analyzer must always print valid UTF-8."""
        return self.stdout.decode("utf-8")

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", errors="replace")

    def describe(self) -> str:
        return (
            f"$ {' '.join(self.argv)}\nexit {self.returncode} after {self.seconds:.2f}s\n"
            f"--- stderr ---\n{self.err[-3000:]}\n--- stdout ---\n"
            f"{self.stdout.decode('utf-8', errors='replace')[-3000:]}"
        )


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> ToolResult:
    started = time.monotonic()
    completed = subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=TOOL_TIMEOUT,
    )
    elapsed = time.monotonic() - started
    return ToolResult(
        tuple(argv), completed.returncode, completed.stdout, completed.stderr, elapsed
    )


def pystack_available() -> bool:
    return importlib.util.find_spec("pystack") is not None


class Tools:
    """Runs ``python -m triage`` and ``python -m pystack`` from a scratch directory (so the
    source tree is never imported instead of the installed package) and caches the results."""

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self._cache: dict[tuple[str, ...], ToolResult] = {}
        workdir.mkdir(parents=True, exist_ok=True)

    def triage(self, *args: str, env: dict[str, str] | None = None) -> ToolResult:
        argv = [sys.executable, "-m", "triage", *args]
        if env is not None:
            return run(argv, self._workdir, env)
        return self._cached(argv, None)

    def triage_json(self, core: Path) -> dict[str, Any]:
        """``triage core CORE --json``, which must succeed and print one JSON document."""
        result = self.triage("core", str(core), "--json")
        assert result.returncode == 0, result.describe()
        return json.loads(result.stdout)

    def triage_text(self, core: Path) -> ToolResult:
        return self.triage("core", str(core), "--no-color")

    def pystack(self, core: Path) -> ToolResult:
        env = dict(os.environ, NO_COLOR="1")
        return self._cached([sys.executable, "-m", "pystack", "core", str(core)], env)

    def _cached(self, argv: list[str], env: dict[str, str] | None) -> ToolResult:
        key = tuple(argv)
        if key not in self._cache:
            self._cache[key] = run(argv, self._workdir, env)
        return self._cache[key]
