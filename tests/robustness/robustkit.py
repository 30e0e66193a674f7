"""Helpers of the robustness suite: the cores it mutates, and a runner that executes many
``triage`` command lines in isolated children (see forkrun.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from coretest import interpreters
from coretest.cores import CoreCase, CoreFactory, GcoreMissing
from coretest.scenarios import CoreKey, scenario

FORKRUN = Path(__file__).resolve().parent / "forkrun.py"
RUN_TIMEOUT = 30.0  # a hang, not a slow run: the slowest native run takes a few seconds
WORKERS = max(1, min(2, os.cpu_count() or 1))
# The cores the suite mutates: one small kernel core per interpreter (SIGABRT, deep in
# Python), the kind a service leaves behind.
SCENARIO = "nested"


def core_keys() -> list[CoreKey]:
    return [CoreKey(i, scenario(SCENARIO), "abort") for i in interpreters.selected()]


def get_core(factory: CoreFactory, key: CoreKey) -> CoreCase:
    try:
        return factory.get(key)
    except GcoreMissing as error:
        pytest.skip(str(error))


def run_many(commands: list[list[str]], cwd: Path) -> list[dict[str, object]]:
    """Every command line in its own child; see forkrun.py for the result fields."""
    completed = subprocess.run(
        [sys.executable, str(FORKRUN), str(RUN_TIMEOUT), str(WORKERS)],
        input=json.dumps(commands).encode(),
        capture_output=True,
        cwd=cwd,
        timeout=RUN_TIMEOUT * len(commands) + 60,
    )
    assert completed.returncode == 0, completed.stderr.decode(errors="replace")[-3000:]
    return json.loads(completed.stdout)


def problems(result: dict[str, object]) -> list[str]:
    """What is wrong with one run: a crash, a hang, a traceback, an undocumented exit."""
    if result["timed_out"]:
        return ["hang"]
    if result["signal"] is not None:
        return [f"crash (signal {result['signal']})"]
    code, out, err = result["exit"], str(result["stdout"]), str(result["stderr"])
    found = []
    if code not in (0, 1, 3):
        found.append(f"exit code {code}")
    if "Traceback" in err or "triage: error: unexpected " in err:
        found.append(f"traceback or unexpected error: {err.strip()[-300:]}")
    if code != 0 and (len(err.strip().splitlines()) != 1 or not err.startswith("triage: error:")):
        found.append(f"not a one-line error: {err.strip()[-300:]!r}")
    try:
        out.encode("utf-8")
    except UnicodeEncodeError:
        found.append("output is not valid UTF-8")
    if code == 0 and "--json" in result["argv"]:  # type: ignore[operator]
        try:
            json.loads(out)
        except ValueError:
            found.append("--json printed no JSON document")
    return found
