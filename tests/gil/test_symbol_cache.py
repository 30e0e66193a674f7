"""The symbol cache on disk (native frames by build id): a warm run shows exactly what a cold
run shows; corrupt, truncated, foreign or empty cache files are ignored (and replaced), never
trusted or fatal; several processes filling one directory at once all give the same answer and
leave only whole files behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from gilkit import PROGRAMS
from nativekit import interpreters
from nativekit.processes import READY_FD, Reaper, gcore, kill, wait_all_sleeping
from nativekit.tools import Tools

CACHE_ENV = "TRIAGE_SYMBOL_CACHE"


@pytest.fixture(scope="module")
def core(reaper: Reaper, lab: Path) -> Path:
    """A gcore of two threads asleep in select and in the main thread's sleep."""
    interpreter = interpreters.current()
    if interpreter is None:
        pytest.skip("the test interpreter is not among the discovered ones")
    run_dir = lab / "symbol-cache"
    argv = [interpreter.path, str(PROGRAMS / "gil_scenarios.py"), "select", READY_FD, "-"]
    target = reaper.start_ready(argv, run_dir)
    try:
        wait_all_sleeping(target.pid)
        return gcore(target.pid, run_dir / "core")
    finally:
        kill(target)


def native_report(tools: Tools, core: Path, monkeypatch: pytest.MonkeyPatch, cache: Path) -> str:
    monkeypatch.setenv(CACHE_ENV, str(cache))
    report = tools.triage_json("core", str(core), "--native")
    return json.dumps(report["threads"], sort_keys=True)


def test_warm_equals_cold(
    core: Path, tools: Tools, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "symbols"
    cold = native_report(tools, core, monkeypatch, cache)
    files = sorted(cache.iterdir())
    assert files, "no cache file written"
    assert all(len(f.name) >= 16 and not f.name.startswith(".") for f in files)
    assert native_report(tools, core, monkeypatch, cache) == cold
    uncached = native_report(tools, core, monkeypatch, Path("off"))
    assert uncached == cold


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped", "empty", "swapped"])
def test_damaged_cache_ignored(
    core: Path, tools: Tools, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    cache = tmp_path / "symbols"
    cold = native_report(tools, core, monkeypatch, cache)
    files = sorted(cache.iterdir())
    contents = [f.read_bytes() for f in files]
    for index, file in enumerate(files):
        data = contents[index]
        if damage == "garbage":
            file.write_bytes(b"\xff" * 4096)
        elif damage == "truncated":
            file.write_bytes(data[: len(data) // 2])
        elif damage == "flipped":
            middle = len(data) // 2
            file.write_bytes(data[:middle] + bytes([data[middle] ^ 0x55]) + data[middle + 1 :])
        elif damage == "empty":
            file.write_bytes(b"")
        else:  # another build id's (valid) entries under this build id's name
            file.write_bytes(contents[(index + 1) % len(contents)])
    assert native_report(tools, core, monkeypatch, cache) == cold
    # ... and the damaged files were replaced by good ones.
    assert native_report(tools, core, monkeypatch, cache) == cold


def test_concurrent_writers(
    core: Path, tools: Tools, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = native_report(tools, core, monkeypatch, tmp_path / "alone")
    cache = tmp_path / "shared"
    monkeypatch.setenv(CACHE_ENV, str(cache))
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(
            pool.map(lambda _: tools.triage("core", str(core), "--native", "--json"), range(4))
        )
    for run in runs:
        assert run.returncode == 0, run.describe()
        assert json.dumps(json.loads(run.stdout)["threads"], sort_keys=True) == reference
    assert not [f for f in cache.iterdir() if f.name.startswith(".")], "temporary files left"
    assert native_report(tools, core, monkeypatch, cache) == reference


PAGE_FAULTS = """\
import resource, sys
from triage import _native
_native.analyze_core(sys.argv[1], native=True)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)
"""


def page_faults(core: Path, monkeypatch: pytest.MonkeyPatch, cache: Path) -> int:
    """Page faults (pages first touched) of one native analysis in a fresh process."""
    monkeypatch.setenv(CACHE_ENV, str(cache))
    run = subprocess.run(
        [sys.executable, "-c", PAGE_FAULTS, str(core)], capture_output=True, text=True, check=True
    )
    return int(run.stdout)


def test_warm_cache_touches_fewer_pages_than_none(
    core: Path, tools: Tools, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warm cache spares the DWARF work, so the analysis touches fewer pages than without a
    cache. Loading a cache file reads the file's size: a zeroed buffer of the 32 MiB size bound
    per file made a warm first analysis fault in more pages than an uncached one. Page faults,
    not peak RSS: Linux keeps a process's peak across exec, so a child of a large test process
    starts with its parent's."""
    cache = tmp_path / "symbols"
    native_report(tools, core, monkeypatch, cache)
    assert sorted(cache.iterdir())
    uncached = page_faults(core, monkeypatch, Path("off"))
    warm = page_faults(core, monkeypatch, cache)
    assert warm < uncached, (warm, uncached)
