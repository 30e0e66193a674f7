"""The interpreter shutting down is said, as PyStack says it, and only then."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from coretest import interpreters

from triage.samples.cores import make_core

AT_EXIT = "import os\nclass Late:\n    def __del__(self):\n        os.abort()\nkeep = Late()\n"
RUNNING = "import os\nos.abort()\n"
NOTICE = "The interpreter is shutting itself down"
# _PyRuntime records the finalizing thread from 3.7 on.
CHOSEN = [i for i in interpreters.selected() if i.version >= (3, 7)]


@pytest.mark.parametrize("interpreter", CHOSEN, ids=[i.id for i in CHOSEN])
def test_finalizing_is_said(interpreter: interpreters.Interpreter, tmp_path: Path) -> None:
    for name, program, expected in (("exit", AT_EXIT, True), ("run", RUNNING, False)):
        workdir = tmp_path / name
        workdir.mkdir()
        (workdir / "app.py").write_text(program)
        core = make_core([interpreter.path, "-E", str(workdir / "app.py")], str(workdir))
        result = subprocess.run(
            [sys.executable, "-m", "triage", "core", core],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert (NOTICE in result.stderr) is expected, (name, result.stderr)
