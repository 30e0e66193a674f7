"""ELF files shared across analyses in one process (a pipeline worker): the same answers as a
fresh process, and a file replaced at the same path is read again, never served from memory.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from gilkit import PROGRAMS
from nativekit.processes import READY_FD, Reaper, gcore, kill, wait_all_sleeping

SYSTEM_PYTHON = Path("/usr/bin/python3")

# Analyses in one process: the core, the core after its interpreter's file was replaced by
# another program, and after the original was put back (a new inode each time).
IN_ONE_PROCESS = """\
import json, shutil, sys
from triage import _native
core, executable, original, other = sys.argv[1:5]
def summary():
    analysis = _native.analyze_core(core, native=True)
    return {"version": analysis.python_version, "threads": len(analysis.threads),
            "frames": [[f.function for f in t.frames] for t in analysis.threads]}
results = [summary()]
shutil.copyfile(other, executable + ".new")
shutil.move(executable + ".new", executable)
results.append(summary())
shutil.copyfile(original, executable + ".new")
shutil.move(executable + ".new", executable)
results.append(summary())
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def copied_core(reaper: Reaper, lab: Path) -> tuple[Path, Path]:
    """A gcore of Debian's interpreter (libpython linked in) run from a copy of its file."""
    real = SYSTEM_PYTHON.resolve()
    if not real.is_file():
        pytest.skip("no /usr/bin/python3")
    run_dir = lab / "shared-elf"
    run_dir.mkdir(parents=True, exist_ok=True)
    executable = run_dir / "python3"
    shutil.copy2(real, executable)
    argv = [str(executable), str(PROGRAMS / "gil_scenarios.py"), "select", READY_FD, "-"]
    target = reaper.start_ready(argv, run_dir)
    try:
        wait_all_sleeping(target.pid)
        return gcore(target.pid, run_dir / "core"), executable
    finally:
        kill(target)


def test_replaced_file_is_read_again(copied_core: tuple[Path, Path], tmp_path: Path) -> None:
    core, executable = copied_core
    saved = tmp_path / "python3.saved"
    shutil.copy2(executable, saved)
    try:
        run = subprocess.run(
            [
                sys.executable,
                "-c",
                IN_ONE_PROCESS,
                str(core),
                str(executable),
                str(saved),
                "/bin/true",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        shutil.copy2(saved, executable)
    first, replaced, restored = json.loads(run.stdout)
    assert first["version"] is not None and first["threads"] >= 2
    assert replaced["version"] is None, "the replaced file was served from the cache"
    assert restored == first
