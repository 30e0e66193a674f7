"""A process in its own mount namespace (a container) is read against its own files.

Its interpreter and libpython are copied onto a tmpfs mounted only inside the namespace, so the
same paths are empty for the analyzer: only /proc/PID/root leads to them.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from coretest.interpreters import Interpreter, pyenv_prefix, selected
from livekit import run_triage

SCRIPT = textwrap.dedent(
    """
    set -e
    mount -t tmpfs tmpfs "$HIDDEN"
    cp "$PYTHON" "$HIDDEN/python"
    cp "$LIBPYTHON" "$HIDDEN/"
    export LD_LIBRARY_PATH="$HIDDEN" PYTHONHOME="$PREFIX"
    exec "$HIDDEN/python" -c "import time; print('ready', flush=True); time.sleep(120)"
    """
)


def shared_pyenv() -> tuple[Interpreter, Path, str] | None:
    for interp in selected():
        prefix = pyenv_prefix(interp)
        libs = glob.glob(str(prefix / "lib" / "libpython*.so.1.0")) if prefix else []
        if prefix and libs and interp.version >= (3, 0):
            return interp, prefix, libs[0]
    return None


def test_process_in_another_mount_namespace(tmp_path: Path) -> None:
    found = shared_pyenv()
    if os.geteuid() != 0 or shutil.which("unshare") is None or found is None:
        pytest.skip("needs root, unshare and a pyenv build with a shared libpython")
    interp, prefix, libpython = found
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HIDDEN": str(hidden),
        "PYTHON": os.path.realpath(interp.path),
        "LIBPYTHON": libpython,
        "PREFIX": str(prefix),
    }
    target = subprocess.Popen(
        ["unshare", "-m", "--propagation", "private", "bash", "-c", SCRIPT],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert target.stdout is not None and target.stdout.readline().strip() == "ready"
        assert list(hidden.iterdir()) == [], "the copies must be invisible from here"
        for flags in ((), ("--native",)):
            result = run_triage("remote", str(target.pid), "--no-color", *flags, cwd=tmp_path)
            assert result.returncode == 0, result.stderr
            assert '(Python) File "<string>", line 1, in <module>' in result.stdout
        # Symbols of libpython frames come from the namespace's copy of the library.
        named = re.compile(r"^\s+\(C\) File .* in (?!\?\?\?)\S+.* \(libpython", re.MULTILINE)
        assert named.search(result.stdout), result.stdout
    finally:
        target.kill()
        target.wait()
        if target.stdout is not None:
            target.stdout.close()
